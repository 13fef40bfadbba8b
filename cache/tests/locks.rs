mod common;

use augflow_cache::{Digest, Store};
use common::*;

#[test]
fn lock_excludes_other_handles() {
    let (_dir, store) = store();
    let other = Store::open(store.root()).unwrap();
    let key = Digest::of_bytes(b"key");
    let held = store.lock_key(&key).unwrap();
    assert!(other.try_lock_key(&key).unwrap().is_none());
    // A different key is independent.
    assert!(
        other
            .try_lock_key(&Digest::of_bytes(b"other"))
            .unwrap()
            .is_some()
    );
    drop(held);
    let again = other.try_lock_key(&key).unwrap();
    assert!(again.is_some());
    assert!(store.try_lock_key(&key).unwrap().is_none());
}

#[test]
fn lock_waits_for_release() {
    let (_dir, store) = store();
    let key = Digest::of_bytes(b"key");
    let held = store.try_lock_key(&key).unwrap().unwrap();
    let other = Store::open(store.root()).unwrap();
    let waiter = std::thread::spawn(move || {
        let _lock = other.lock_key(&key).unwrap();
        std::time::Instant::now()
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let released = std::time::Instant::now();
    drop(held);
    assert!(waiter.join().unwrap() >= released);
}
