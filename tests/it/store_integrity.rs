//! Corrupt blobs are detected, quarantined and recomputed.

use crate::common::{TestProject, assert_store_blobs_valid};

#[test]
fn a_flipped_byte_in_a_blob_is_detected_and_the_node_recomputed() {
    let project = TestProject::new(
        r#"
stages:
  make:
    cmd: "echo precious content > made.txt"
    outs: [made.txt]
"#,
    );
    project.run(&[]).assert_ok();
    let digest = blake3::hash(b"precious content\n").to_hex().to_string();
    let blob = project
        .store()
        .join("objects")
        .join(&digest[..2])
        .join(&digest[2..]);
    let mut bytes = std::fs::read(&blob).expect("blob exists");
    bytes[0] ^= 0x01;
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&blob, perms).unwrap();
    std::fs::write(&blob, &bytes).unwrap();
    std::fs::remove_file(project.path("made.txt")).unwrap();

    project
        .run(&[])
        .assert_ok()
        .assert_executed(&["make"])
        .assert_warned("corrupt blob");
    assert_eq!(project.read("made.txt"), "precious content\n");
    assert_store_blobs_valid(&project.store());
    let quarantined = std::fs::read_dir(project.store().join("quarantine"))
        .unwrap()
        .count();
    assert!(quarantined >= 1);
}
