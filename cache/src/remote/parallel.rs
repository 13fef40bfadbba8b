//! A small worker pool over a list, with std::thread::scope: backend-agnostic, and the
//! blocking remotes need nothing more.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `work` on every item with up to `workers` threads. Stops handing out items after the
/// first error, waits for the items in flight, and returns that first error.
pub(crate) fn try_for_each<T, E>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> Result<(), E> + Sync,
) -> Result<(), E>
where
    T: Sync,
    E: Send,
{
    let workers = workers.clamp(1, items.len().max(1));
    if workers == 1 {
        return items.iter().try_for_each(work);
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    if let Err(e) = work(item) {
                        failed.store(true, Ordering::Relaxed);
                        // A poisoned lock only means another worker panicked; scope()
                        // re-raises that panic anyway.
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                        break;
                    }
                }
            });
        }
    });
    match first_error.into_inner() {
        Ok(Some(e)) => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_every_item_once() {
        let items: Vec<u64> = (0..100).collect();
        let sum = AtomicUsize::new(0);
        try_for_each(&items, 4, |i| {
            sum.fetch_add(*i as usize, Ordering::Relaxed);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(sum.into_inner(), 4950);
    }

    #[test]
    fn stops_at_first_error() {
        let items: Vec<u64> = (0..1000).collect();
        let seen = AtomicUsize::new(0);
        let err = try_for_each(&items, 3, |i| {
            seen.fetch_add(1, Ordering::Relaxed);
            if *i == 5 { Err(*i) } else { Ok(()) }
        });
        assert_eq!(err, Err(5));
        assert!(seen.into_inner() < 1000);
        try_for_each(&[] as &[u8], 8, |_| Err(())).unwrap();
    }
}
