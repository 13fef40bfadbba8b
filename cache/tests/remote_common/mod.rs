//! One scenario per behaviour, written once and run against every backend.
#![allow(dead_code)]

pub mod s3_server;
pub mod trust;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime};

use augflow_cache::remote::{
    ObjectKind, Remote, TransferError, gc_remote, pull_action, pull_action_with_progress,
    push_action,
};
use augflow_cache::{ActionEntry, Artifact, Digest, Producer, Store};

use crate::common::*;

/// Size of the big output: above the S3 backend's 8 MiB single-PUT limit, so it goes
/// multipart there.
pub const BIG: usize = (9 << 20) + 5;

/// What a scenario needs from a backend under test.
pub trait Harness {
    /// A new client, as a teammate's process would open it.
    fn open(&self) -> Box<dyn Remote>;
    /// Where the server keeps the remote's files (`FORMAT`, `objects/`, `ac/`).
    fn backing_root(&self) -> PathBuf;
    /// Whether concurrent conditional creates of one key are serialized by the server.
    fn atomic_create(&self) -> bool;
}

/// One `#[test]` per shared scenario (named after it), each against a fresh `$harness`:
/// every backend runs the same list.
macro_rules! scenario_tests {
    (@shared $harness:expr; $($scenario:ident),*) => {
        $(#[test] fn $scenario() { remote_common::$scenario(&$harness); })*
    };
    (@trust $harness:expr; $($scenario:ident),*) => {
        $(#[test] fn $scenario() { remote_common::trust::$scenario(&$harness); })*
    };
    ($harness:expr) => {
        remote_common::scenario_tests!(@shared $harness;
            round_trip, push_twice, concurrent_push, tampered_blob, unusable_entry_is_a_miss,
            missing_blob, corrupt_local_blob_is_not_pushed, gc);
        remote_common::scenario_tests!(@trust $harness;
            broken_entries_are_misses, downloads_stop_at_the_declared_size,
            push_reuploads_missing_blobs, broken_entries_are_replaced_only_by_repair,
            signed_remotes_ignore_untrusted_writers);
    };
}
pub(crate) use scenario_tests;

/// The remote's layout: `FORMAT` at its root, and a blob, pushed through `remote`, at
/// the local store's path scheme below it. Returns the team and the blob's digest.
pub fn blob_layout(h: &dyn Harness, remote: &dyn Remote) -> (Team, Digest) {
    let root = h.backing_root();
    assert_eq!(
        fs::read_to_string(root.join("FORMAT")).unwrap(),
        "augflow-remote 1\n"
    );
    let t = team();
    let d = t.a.put_bytes(b"blob").unwrap();
    remote.put_blob_from_file(&d, &t.a.blob_path(&d)).unwrap();
    assert_eq!(
        fs::read(root.join(relative_blob_path(&t.a, &d))).unwrap(),
        b"blob"
    );
    (t, d)
}

/// Where `store` keeps blob `d`, relative to its root (the remote's scheme too).
pub fn relative_blob_path(store: &Store, d: &Digest) -> PathBuf {
    store
        .blob_path(d)
        .strip_prefix(store.root())
        .unwrap()
        .to_path_buf()
}

/// Team, an action entry of theirs and a key, for the fails-fast checks.
pub fn fails_fast_inputs(seed: &str) -> (Team, ActionEntry, Digest) {
    let t = team();
    let entry = outputs(&t.a, t.dir.path(), seed, "alice");
    let k = Digest::of_bytes(seed.as_bytes());
    (t, entry, k)
}

pub fn backing(h: &dyn Harness, kind: ObjectKind, d: &Digest) -> PathBuf {
    let hex = d.to_hex();
    let root = h.backing_root();
    match kind {
        ObjectKind::Blob => root.join("objects").join(&hex[..2]).join(&hex[2..]),
        ObjectKind::Action => root.join("ac").join(&hex[..2]).join(format!("{hex}.json")),
    }
}

/// Two teammates' stores, and a scratch folder.
pub struct Team {
    pub dir: tempfile::TempDir,
    pub a: Store,
    pub b: Store,
}

pub fn team() -> Team {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(&dir.path().join("a")).unwrap();
    let b = Store::open(&dir.path().join("b")).unwrap();
    Team { dir, a, b }
}

/// Stores a tree, a small file and a big file in `store`; the entry names them. `seed`
/// changes the content (and so the blobs); `who` only the entry's metadata.
pub fn outputs(store: &Store, work: &Path, seed: &str, who: &str) -> ActionEntry {
    let src = work.join(format!("src-{seed}-{who}"));
    sample_tree(&src.join("tree"));
    write(&src.join("tree/seed.txt"), seed.as_bytes());
    write(&src.join("small.txt"), format!("small {seed}").as_bytes());
    let mut big = vec![0u8; BIG];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i % 251) as u8 ^ seed.len() as u8;
    }
    write(&src.join("big.bin"), &big);
    let mut outs = BTreeMap::new();
    for name in ["tree", "small.txt", "big.bin"] {
        outs.insert(
            name.to_string(),
            store.put_artifact(&src.join(name)).unwrap(),
        );
    }
    let mut entry = ActionEntry::new(outs, Duration::from_millis(42), Producer::current("t"));
    entry.metadata.insert("who".into(), serde_json::json!(who));
    entry
}

/// Every blob an entry needs, read from `store`.
pub fn blobs_of(store: &Store, entry: &ActionEntry) -> BTreeSet<Digest> {
    let mut out = BTreeSet::new();
    for artifact in entry.outputs.values() {
        out.insert(artifact.digest());
        if let Artifact::Dir { manifest, .. } = artifact {
            let tree = store.read_manifest(manifest).unwrap();
            out.extend(tree.entries.values().map(|e| e.digest));
        }
    }
    out
}

/// The action key a scenario uses, named for the reader.
pub fn key(name: &str) -> Digest {
    Digest::of_bytes(name.as_bytes())
}

/// The digests of every object of `kind` on the remote, in the order it lists them.
pub fn listed(remote: &dyn Remote, kind: ObjectKind) -> Vec<Digest> {
    remote
        .list(kind)
        .unwrap()
        .into_iter()
        .map(|o| o.digest)
        .collect()
}

/// Pushes alice's outputs for `seed` (from `t.a`) under `k`, then deletes the entry's
/// `small.txt` blob from the remote: an entry whose blob vanished. Returns the entry and
/// the deleted blob's digest.
pub fn push_and_lose_a_blob(
    remote: &dyn Remote,
    t: &Team,
    k: &Digest,
    seed: &str,
) -> (ActionEntry, Digest) {
    let entry = outputs(&t.a, t.dir.path(), seed, "alice");
    push_action(remote, &t.a, k, &entry, 2).unwrap();
    let gone = entry.outputs["small.txt"].digest();
    remote.delete(ObjectKind::Blob, &gone).unwrap();
    (entry, gone)
}

fn remote_entry(remote: &dyn Remote, k: &Digest) -> ActionEntry {
    serde_json::from_slice(&remote.get_action_bytes(k).unwrap().unwrap()).unwrap()
}

/// Push from A, pull into B: same entry, byte-identical blobs, same files materialized.
pub fn round_trip(h: &dyn Harness) {
    let t = team();
    let remote = h.open();
    let k = key("round trip");
    let entry = outputs(&t.a, t.dir.path(), "one", "alice");
    let needed = blobs_of(&t.a, &entry);

    assert_eq!(pull_action(&*remote, &t.b, &k, 4).unwrap(), None);
    let pushed = push_action(&*remote, &t.a, &k, &entry, 4).unwrap();
    assert!(pushed.entry_created);
    assert_eq!(pushed.blobs_uploaded, needed.len() as u64);
    assert_eq!(pushed.blobs_present, 0);
    assert!(pushed.bytes_uploaded > BIG as u64);
    for d in &needed {
        assert!(remote.has_blob(d).unwrap());
    }

    let teammate = h.open();
    let steps = Mutex::new(Vec::new());
    let got =
        pull_action_with_progress(&*teammate, &t.b, &k, 4, &|p| steps.lock().unwrap().push(p))
            .unwrap();
    assert_eq!(got.as_ref(), Some(&entry));
    assert_eq!(t.b.get_action(&k).unwrap(), Some(entry.clone()));
    for d in &needed {
        let a = fs::read(t.a.blob_path(d)).unwrap();
        assert_eq!(fs::read(t.b.blob_path(d)).unwrap(), a, "blob {d}");
    }
    let steps = steps.into_inner().unwrap();
    // Manifests are fetched first and not counted.
    let files = needed.len() - 1;
    assert_eq!(steps.len(), files);
    assert!(steps.iter().all(|p| p.blobs_total == files));
    assert!(steps.iter().any(|p| p.blobs_done == files));

    for (name, artifact) in &entry.outputs {
        let from_a = t.dir.path().join("out-a").join(name);
        let from_b = t.dir.path().join("out-b").join(name);
        t.a.materialize(artifact, &from_a).unwrap();
        t.b.materialize(artifact, &from_b).unwrap();
        assert_eq!(snapshot(&from_a), snapshot(&from_b), "{name}");
    }
    // Nothing left half-done in B.
    assert_eq!(count_files(&t.b.root().join("tmp")), 0);

    let stats = teammate.stats();
    assert!(stats.gets as usize > files, "{stats:?}");
    assert!(stats.bytes_downloaded > BIG as u64, "{stats:?}");
}

/// The second push of a key changes nothing, whoever pushes; one valid entry stays.
pub fn push_twice(h: &dyn Harness) {
    let t = team();
    let remote = h.open();
    let k = key("twice");
    let entry = outputs(&t.a, t.dir.path(), "two", "alice");
    assert!(
        push_action(&*remote, &t.a, &k, &entry, 2)
            .unwrap()
            .entry_created
    );
    let again = push_action(&*remote, &t.a, &k, &entry, 2).unwrap();
    assert!(!again.entry_created);
    assert_eq!(again.blobs_uploaded, 0);

    let other = outputs(&t.b, t.dir.path(), "two", "bob");
    let theirs = push_action(&*h.open(), &t.b, &k, &other, 2).unwrap();
    assert!(!theirs.entry_created);
    assert_eq!(theirs.blobs_uploaded, 0);

    assert_eq!(listed(&*remote, ObjectKind::Action), vec![k]);
    assert_eq!(remote_entry(&*remote, &k), entry);
    // The conditional create itself, without push's early exit.
    assert!(!remote.put_action_bytes_if_absent(&k, b"{}").unwrap());
    assert_eq!(remote_entry(&*remote, &k), entry);
}

/// Two teammates push the same key at once, several times over: one entry per key, valid
/// and complete. `created` per key is exactly 1 where the server serializes creates.
pub fn concurrent_push(h: &dyn Harness) {
    let t = team();
    let alice = outputs(&t.a, t.dir.path(), "race", "alice");
    let bob = outputs(&t.b, t.dir.path(), "race", "bob");
    let (ra, rb) = (h.open(), h.open());
    let mut doubles = 0;
    for round in 0..8 {
        let k = key(&format!("race {round}"));
        let barrier = Arc::new(Barrier::new(2));
        let created: Vec<bool> = std::thread::scope(|s| {
            let runs = [(&t.a, &alice, &ra), (&t.b, &bob, &rb)].map(|(store, entry, remote)| {
                let barrier = barrier.clone();
                s.spawn(move || {
                    barrier.wait();
                    push_action(&**remote, store, &k, entry, 2)
                        .unwrap()
                        .entry_created
                })
            });
            runs.map(|r| r.join().unwrap()).to_vec()
        });
        let n = created.iter().filter(|c| **c).count();
        assert!(n >= 1, "round {round}: nobody created the entry");
        if h.atomic_create() {
            assert_eq!(n, 1, "round {round}: {created:?}");
        }
        doubles += usize::from(n == 2);
        let stored = remote_entry(&*ra, &k);
        assert!(stored == alice || stored == bob);
        // Whoever won, the entry is complete: a third teammate can pull it.
        let fresh = Store::open(&t.dir.path().join(format!("c{round}"))).unwrap();
        assert_eq!(
            pull_action(&*h.open(), &fresh, &k, 4).unwrap(),
            Some(stored)
        );
    }
    if doubles > 0 {
        eprintln!("server let both creates succeed in {doubles}/8 rounds (not atomic)");
    }
}

/// Overwrites the server's copy of a blob with other bytes of the same length.
fn tamper(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    bytes[0] ^= 0xff;
    let mut perms = fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(path, perms).unwrap();
    fs::write(path, bytes).unwrap();
}

/// A blob with wrong bytes on the remote: the pull fails with Tampered, and B keeps neither
/// it nor the entry.
pub fn tampered_blob(h: &dyn Harness) {
    for victim in ["small.txt", "tree-file", "tree"] {
        let t = team();
        let remote = h.open();
        let k = key(&format!("tampered {victim}"));
        let entry = outputs(&t.a, t.dir.path(), victim, "alice");
        push_action(&*remote, &t.a, &k, &entry, 2).unwrap();
        let digest = match victim {
            "tree-file" => {
                let manifest = entry.outputs["tree"].digest();
                let tree = t.a.read_manifest(&manifest).unwrap();
                tree.entries["sub/deeper/c.bin"].digest
            }
            name => entry.outputs[name].digest(),
        };
        tamper(&backing(h, ObjectKind::Blob, &digest));

        let err = pull_action(&*h.open(), &t.b, &k, 4).unwrap_err();
        assert!(
            matches!(&err, TransferError::Tampered { digest: d, .. } if *d == digest),
            "{victim}: {err:?}"
        );
        assert!(err.to_string().contains(&digest.to_hex()), "{err}");
        assert!(!t.b.has_blob(&digest), "{victim}");
        assert_eq!(t.b.get_action(&k).unwrap(), None, "{victim}");
        assert_eq!(count_files(&t.b.root().join("tmp")), 0, "{victim}");
    }
}

/// Garbage, or an entry of another format, on the remote is a miss, not an error.
pub fn unusable_entry_is_a_miss(h: &dyn Harness) {
    let t = team();
    let remote = h.open();
    let k = key("garbage");
    assert!(
        remote
            .put_action_bytes_if_absent(&k, b"not json {")
            .unwrap()
    );
    assert_eq!(pull_action(&*remote, &t.b, &k, 2).unwrap(), None);
    let k2 = key("future");
    let mut entry = outputs(&t.a, t.dir.path(), "future", "alice");
    entry.format = 99;
    let bytes = serde_json::to_vec(&entry).unwrap();
    assert!(remote.put_action_bytes_if_absent(&k2, &bytes).unwrap());
    assert_eq!(pull_action(&*remote, &t.b, &k2, 2).unwrap(), None);
    assert!(t.b.list_actions().unwrap().is_empty());
}

/// An entry whose blob is gone from the remote: MissingBlob, and no local entry.
pub fn missing_blob(h: &dyn Harness) {
    let t = team();
    let remote = h.open();
    let k = key("missing");
    let (_, gone) = push_and_lose_a_blob(&*remote, &t, &k, "missing");
    // Deleting what is already gone is no error.
    remote.delete(ObjectKind::Blob, &gone).unwrap();
    let err = pull_action(&*remote, &t.b, &k, 2).unwrap_err();
    assert!(
        matches!(&err, TransferError::MissingBlob { digest, .. } if *digest == gone),
        "{err:?}"
    );
    assert_eq!(t.b.get_action(&k).unwrap(), None);
}

/// A local blob corrupt in A is not uploaded: it is quarantined and the push fails.
pub fn corrupt_local_blob_is_not_pushed(h: &dyn Harness) {
    let t = team();
    let remote = h.open();
    let k = key("corrupt local");
    let entry = outputs(&t.a, t.dir.path(), "corrupt", "alice");
    let victim = entry.outputs["big.bin"].digest();
    corrupt(&t.a.blob_path(&victim));
    let err = push_action(&*remote, &t.a, &k, &entry, 2).unwrap_err();
    assert!(
        matches!(&err, TransferError::Cache(augflow_cache::CacheError::Corrupt { digest, .. }) if *digest == victim),
        "{err:?}"
    );
    assert!(!remote.has_blob(&victim).unwrap());
    assert!(remote.get_action_bytes(&k).unwrap().is_none());
    assert!(!t.a.has_blob(&victim), "quarantined");
}

/// An operation's name, and a call that says whether it failed.
type Check<'a> = (&'static str, Box<dyn Fn() -> bool + 'a>);

/// Every operation against an unreachable remote returns Err quickly and never panics.
pub fn fails_fast(remote: &dyn Remote, store: &Store, entry: &ActionEntry, k: &Digest) {
    let budget = Duration::from_secs(15);
    let d = entry.outputs["small.txt"].digest();
    let file = store.blob_path(&d);
    let dest = store.root().join("tmp").join("probe");
    let checks: Vec<Check> = vec![
        (
            "get_action_bytes",
            Box::new(|| remote.get_action_bytes(k).is_err()),
        ),
        (
            "put_action",
            Box::new(|| remote.put_action_bytes_if_absent(k, b"{}").is_err()),
        ),
        ("has_blob", Box::new(|| remote.has_blob(&d).is_err())),
        (
            "get_blob",
            Box::new(|| remote.get_blob_to_file(&d, &dest, u64::MAX).is_err()),
        ),
        (
            "put_blob",
            Box::new(|| remote.put_blob_from_file(&d, &file).is_err()),
        ),
        ("list", Box::new(|| remote.list(ObjectKind::Blob).is_err())),
        (
            "delete",
            Box::new(|| remote.delete(ObjectKind::Blob, &d).is_err()),
        ),
        (
            "pull",
            Box::new(|| pull_action(remote, store, k, 2).is_err()),
        ),
        (
            "push",
            Box::new(|| push_action(remote, store, k, entry, 2).is_err()),
        ),
        (
            "gc",
            Box::new(|| gc_remote(remote, &BTreeSet::new(), Duration::ZERO, false).is_err()),
        ),
    ];
    for (name, check) in checks {
        let start = Instant::now();
        assert!(check(), "{name} should fail");
        let took = start.elapsed();
        assert!(took < budget, "{name} took {took:?}");
    }
}

/// Sets the modification time of every object on the server to two hours ago.
pub fn age_all(h: &dyn Harness) {
    for top in ["objects", "ac"] {
        for entry in walkdir::WalkDir::new(h.backing_root().join(top)) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                let file = fs::File::open(entry.path()).unwrap();
                file.set_modified(SystemTime::now() - Duration::from_secs(7200))
                    .unwrap();
            }
        }
    }
}

/// gc keeps kept entries and what they reach, and anything recent; dry runs delete nothing.
pub fn gc(h: &dyn Harness) {
    let t = team();
    let remote = h.open();
    let (keep_key, drop_key, new_key) = (key("gc keep"), key("gc drop"), key("gc new"));
    let kept = outputs(&t.a, t.dir.path(), "keep", "alice");
    let dropped = outputs(&t.a, t.dir.path(), "drop!", "alice");
    push_action(&*remote, &t.a, &keep_key, &kept, 4).unwrap();
    push_action(&*remote, &t.a, &drop_key, &dropped, 4).unwrap();
    let orphan = t.a.put_bytes(b"orphan, old").unwrap();
    remote
        .put_blob_from_file(&orphan, &t.a.blob_path(&orphan))
        .unwrap();
    age_all(h);
    // Pushed after aging: recent, so protected by the grace period though not kept.
    let fresh = outputs(&t.a, t.dir.path(), "fresh", "alice");
    push_action(&*remote, &t.a, &new_key, &fresh, 4).unwrap();

    let keep_blobs = blobs_of(&t.a, &kept);
    let fresh_blobs = blobs_of(&t.a, &fresh);
    let dropped_only: BTreeSet<Digest> = blobs_of(&t.a, &dropped)
        .difference(&keep_blobs)
        .copied()
        .filter(|d| !fresh_blobs.contains(d))
        .collect();
    assert!(!dropped_only.is_empty());
    let before = remote.list(ObjectKind::Blob).unwrap();

    let keep = BTreeSet::from([keep_key]);
    let grace = Duration::from_secs(3600);
    let dry = gc_remote(&*remote, &keep, grace, true).unwrap();
    assert_eq!(dry.actions_removed, 1, "{dry:?}");
    assert_eq!(dry.kept_actions, 2, "{dry:?}");
    assert_eq!(dry.blobs_removed, dropped_only.len() as u64 + 1, "{dry:?}");
    assert_eq!(
        remote.list(ObjectKind::Blob).unwrap(),
        before,
        "dry run deleted"
    );
    assert_eq!(remote.list(ObjectKind::Action).unwrap().len(), 3);

    let real = gc_remote(&*remote, &keep, grace, false).unwrap();
    assert_eq!(real, dry);
    assert!(real.bytes_freed > 0);
    let actions = BTreeSet::from_iter(listed(&*remote, ObjectKind::Action));
    assert_eq!(actions, BTreeSet::from([keep_key, new_key]));
    let blobs = BTreeSet::from_iter(listed(&*remote, ObjectKind::Blob));
    assert!(keep_blobs.is_subset(&blobs));
    assert!(fresh_blobs.is_subset(&blobs));
    assert!(blobs.is_disjoint(&dropped_only));
    assert!(!blobs.contains(&orphan));
    assert_eq!(blobs.len() as u64, real.kept_blobs);

    // What was kept still pulls; a second run finds nothing to do.
    assert_eq!(
        pull_action(&*remote, &t.b, &keep_key, 4).unwrap(),
        Some(kept)
    );
    let again = gc_remote(&*remote, &keep, grace, false).unwrap();
    assert_eq!((again.actions_removed, again.blobs_removed), (0, 0));

    // Without grace, the unkept fresh entry and its own blobs go too.
    let last = gc_remote(&*remote, &keep, Duration::ZERO, false).unwrap();
    assert_eq!(last.actions_removed, 1);
    assert!(last.blobs_removed > 0);
    assert_eq!(pull_action(&*remote, &t.b, &new_key, 4).unwrap(), None);
}

/// A remote whose FORMAT is unknown is refused by `open`.
pub fn write_foreign_format(h: &dyn Harness) {
    let path = h.backing_root().join("FORMAT");
    fs::write(path, "augflow-remote 99\n").unwrap();
}
