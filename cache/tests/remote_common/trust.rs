//! Issue 17's remote scenarios, for every backend: broken entries are misses that leave the
//! local store clean, downloads stop at the declared size, push heals and (when allowed)
//! repairs, and signed remotes ignore writers they do not trust.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use augflow_cache::remote::{
    BrokenEntry, PushOptions, Remote, SIGNED_BY, SignedRemote, SigningConfig, public_key,
    pull_action, pull_action_expecting, push_action, push_action_with,
};
use augflow_cache::{ActionEntry, Artifact, Producer, Store, TreeEntry, TreeManifest};

use super::{Harness, count_files, key, outputs, push_and_lose_a_blob, team};

/// An entry with one directory output whose manifest lists `a` as a file and `a/b` too.
fn clashing_entry(store: &Store) -> ActionEntry {
    let blob = store.put_bytes(b"x").unwrap();
    let mut tree = TreeManifest::default();
    for name in ["a", "a/b"] {
        let entry = TreeEntry {
            digest: blob,
            size: 1,
            executable: false,
        };
        tree.entries.insert(name.into(), entry);
    }
    let manifest = store.put_bytes(&tree.to_canonical_bytes()).unwrap();
    assert_eq!(manifest, tree.digest());
    let outputs = BTreeMap::from([("out".to_string(), Artifact::dir(&tree))]);
    ActionEntry::new(outputs, Duration::ZERO, Producer::current("t"))
}

/// Each kind of broken entry is a miss, and B's store gets no entry and no temp file.
pub fn broken_entries_are_misses(h: &dyn Harness) {
    let t = team();
    let remote = h.open();
    let k = key("clash");
    push_action(&*remote, &t.a, &k, &clashing_entry(&t.a), 2).unwrap();
    assert_eq!(pull_action(&*remote, &t.b, &k, 2).unwrap(), None);

    let empty = ActionEntry::new(BTreeMap::new(), Duration::ZERO, Producer::current("t"));
    let k2 = key("no outputs");
    push_action(&*remote, &t.a, &k2, &empty, 2).unwrap();
    assert_eq!(pull_action(&*remote, &t.b, &k2, 2).unwrap(), None);

    // A good entry, but not for this node's outputs.
    let k3 = key("other outputs");
    let entry = outputs(&t.a, t.dir.path(), "other", "alice");
    push_action(&*remote, &t.a, &k3, &entry, 2).unwrap();
    let declared = BTreeSet::from(["model".to_string()]);
    assert_eq!(
        pull_action_expecting(&*remote, &t.b, &k3, 2, &declared).unwrap(),
        None
    );
    assert!(t.b.list_actions().unwrap().is_empty());
    assert_eq!(count_files(&t.b.root().join("tmp")), 0);
    // The same entry is fine for a node that declares its outputs.
    let declared: BTreeSet<String> = entry.outputs.keys().cloned().collect();
    assert_eq!(
        pull_action_expecting(&*remote, &t.b, &k3, 2, &declared).unwrap(),
        Some(entry)
    );
}

/// A blob larger than its entry declares is refused once the declared size is passed:
/// a miss, and nothing of it is kept.
pub fn downloads_stop_at_the_declared_size(h: &dyn Harness) {
    let t = team();
    let remote = h.open();
    let content = vec![7u8; 3 << 20];
    let digest = t.a.put_bytes(&content).unwrap();
    let lying = Artifact::File {
        digest,
        size: 10,
        executable: false,
    };
    let entry = ActionEntry::new(
        BTreeMap::from([("out".to_string(), lying)]),
        Duration::ZERO,
        Producer::current("t"),
    );
    let k = key("lying size");
    push_action(&*remote, &t.a, &k, &entry, 2).unwrap();
    assert_eq!(pull_action(&*remote, &t.b, &k, 2).unwrap(), None);
    assert!(!t.b.has_blob(&digest));
    assert!(t.b.list_actions().unwrap().is_empty());
    assert_eq!(count_files(&t.b.root().join("tmp")), 0);
}

/// A remote entry whose blob vanished: pushing the same result again uploads the blob.
pub fn push_reuploads_missing_blobs(h: &dyn Harness) {
    let t = team();
    let remote = h.open();
    let k = key("heal");
    let (entry, _) = push_and_lose_a_blob(&*remote, &t, &k, "heal");
    let again = push_action(&*remote, &t.a, &k, &entry, 2).unwrap();
    assert!(!again.entry_created);
    assert_eq!(again.blobs_uploaded, 1, "{again:?}");
    assert!(!again.remote_entry_broken);
    assert_eq!(pull_action(&*remote, &t.b, &k, 2).unwrap(), Some(entry));
}

/// Unsigned mode: a broken entry that this writer cannot heal stays (with a warning),
/// and only `repair` replaces it.
pub fn broken_entries_are_replaced_only_by_repair(h: &dyn Harness) {
    let t = team();
    let remote = h.open();
    let k = key("broken");
    push_and_lose_a_blob(&*remote, &t, &k, "broken-a");
    let bob = outputs(&t.b, t.dir.path(), "broken-b", "bob");
    let pushed = push_action(&*remote, &t.b, &k, &bob, 2).unwrap();
    assert!(pushed.remote_entry_broken, "{pushed:?}");
    assert!(!pushed.entry_repaired);
    let repair = PushOptions {
        broken: BrokenEntry::Replace,
        ..PushOptions::new(2)
    };
    let repaired = push_action_with(&*remote, &t.b, &k, &bob, &repair).unwrap();
    assert!(repaired.entry_repaired, "{repaired:?}");
    let carol = Store::open(&t.dir.path().join("c")).unwrap();
    assert_eq!(pull_action(&*remote, &carol, &k, 2).unwrap(), Some(bob));
}

fn signed(
    h: &dyn Harness,
    secret: Option<[u8; 32]>,
    writers: &[(&str, [u8; 32])],
) -> Box<dyn Remote> {
    let config = SigningConfig {
        writers: writers
            .iter()
            .map(|(name, secret)| (name.to_string(), public_key(secret)))
            .collect(),
        secret,
    };
    Box::new(SignedRemote::new(h.open(), &config).unwrap())
}

/// Signed mode: an entry by an untrusted writer is ignored and replaced by a trusted
/// writer's; the verified signer is recorded; a forged signer field is dropped; an entry
/// edited after signing, or a signature moved to another key, is ignored.
pub fn signed_remotes_ignore_untrusted_writers(h: &dyn Harness) {
    let (alice, bob, mallory) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let trusted = [("alice", alice), ("bob", bob)];
    let t = team();
    let k = key("signed");
    let mut forged = outputs(&t.a, t.dir.path(), "signed-m", "mallory");
    forged
        .metadata
        .insert(SIGNED_BY.into(), serde_json::json!({"writer": "alice"}));
    let as_mallory = signed(h, Some(mallory), &trusted);
    assert!(
        push_action(&*as_mallory, &t.a, &k, &forged, 2)
            .unwrap()
            .entry_created
    );

    let reader = signed(h, None, &trusted);
    assert_eq!(pull_action(&*reader, &t.b, &k, 2).unwrap(), None);

    let entry = outputs(&t.a, t.dir.path(), "signed-a", "alice");
    let as_alice = signed(h, Some(alice), &trusted);
    assert!(as_alice.may_replace_broken());
    assert!(
        push_action(&*as_alice, &t.a, &k, &entry, 2)
            .unwrap()
            .entry_created
    );
    let pulled = pull_action(&*reader, &t.b, &k, 2)
        .unwrap()
        .expect("alice's entry");
    assert_eq!(pulled.outputs, entry.outputs);
    assert_eq!(pulled.metadata[SIGNED_BY]["writer"], "alice");

    // Bob, trusted too, does not replace a valid entry: first writer wins.
    let as_bob = signed(h, Some(bob), &trusted);
    let theirs = outputs(&t.a, t.dir.path(), "signed-b", "bob");
    assert!(
        !push_action(&*as_bob, &t.a, &k, &theirs, 2)
            .unwrap()
            .entry_created
    );

    // Unsigned mode drops a self-reported signer.
    let unsigned = signed(h, None, &[]);
    let k2 = key("forged signer");
    push_action(&*unsigned, &t.a, &k2, &forged, 2).unwrap();
    let c = Store::open(&t.dir.path().join("c")).unwrap();
    let pulled = pull_action(&*unsigned, &c, &k2, 2).unwrap().unwrap();
    assert!(!pulled.metadata.contains_key(SIGNED_BY));

    // A signature is bound to its key and to the exact bytes.
    let raw = h.open();
    let sig = raw.get_signature_bytes(&k).unwrap().expect("signature");
    let d = Store::open(&t.dir.path().join("d")).unwrap();
    let bytes = raw.get_action_bytes(&k).unwrap().unwrap();
    let k3 = key("moved");
    assert!(raw.put_action_bytes_if_absent(&k3, &bytes).unwrap());
    raw.put_signature_bytes(&k3, &sig).unwrap();
    assert_eq!(pull_action(&*reader, &d, &k3, 2).unwrap(), None);
    let mut edited = bytes.clone();
    let at = edited.len() - 2;
    edited.insert(at, b' ');
    raw.put_action_bytes(&k, &edited).unwrap();
    assert_eq!(pull_action(&*reader, &d, &k, 2).unwrap(), None);
    assert!(d.list_actions().unwrap().is_empty());
}
