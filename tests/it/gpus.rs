//! GPUs as a scheduled resource and the CUDA backend, on the real binary. Shell stages only
//! receive `AUGFLOW_GPU` / `CUDA_VISIBLE_DEVICES`, so fake GPU ids work without a GPU.

use crate::common::{TestProject, assert_mentions, failed, names};

/// Four one-GPU nodes that each hold a lock folder named after their GPU while they run:
/// a second node on the same GPU at the same time cannot create it and fails (exit 7).
const FOUR_GPU_NODES: &str = r#"
stages:
  train:
    matrix:
      i: [1, 2, 3, 4]
    cmd: "mkdir lock-gpu$AUGFLOW_GPU || exit 7; mkdir -p out; echo $AUGFLOW_GPU $CUDA_VISIBLE_DEVICES > out/${i}.txt; sleep 1; rmdir lock-gpu$AUGFLOW_GPU"
    outs: ["out/${i}.txt"]
    resources: {gpus: 1, memory_gb: 4}
  cpu:
    cmd: "echo gpu=$${AUGFLOW_GPU:-none} > cpu.txt"
    outs: [cpu.txt]
"#;

fn shown_gpu(project: &TestProject, node: &str) -> String {
    let output = project.augflow(&["show", node, "--json"]);
    assert!(output.status.success(), "{output:?}");
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).expect("show json");
    shown["entry"]["metadata"]["gpu"]
        .as_str()
        .unwrap_or_else(|| panic!("no gpu in {node}'s entry: {shown}"))
        .to_owned()
}

#[test]
fn four_gpu_nodes_on_two_gpus_never_share_one_and_record_theirs() {
    let project = TestProject::new(FOUR_GPU_NODES);
    let run = project.run(&["-j", "4", "--gpus", "0,1"]);
    run.assert_ok();
    assert_eq!(
        run.executed(),
        names(&["cpu", "train@1", "train@2", "train@3", "train@4"])
    );
    let mut used = Vec::new();
    for i in 1..=4 {
        let text = project.read(&format!("out/{i}.txt"));
        let fields: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(fields.len(), 2, "{text:?}");
        assert_eq!(fields[0], fields[1], "CUDA_VISIBLE_DEVICES = AUGFLOW_GPU");
        assert!(["0", "1"].contains(&fields[0]), "{text:?}");
        assert_eq!(shown_gpu(&project, &format!("train@{i}")), fields[0]);
        used.push(fields[0].to_owned());
    }
    used.sort();
    used.dedup();
    assert_eq!(used, ["0", "1"], "both GPUs were used");
    assert_eq!(
        project.read("cpu.txt"),
        "gpu=none\n",
        "a CPU stage gets no GPU"
    );
}

#[test]
fn gpu_share_lets_two_nodes_onto_one_gpu() {
    // The same pipeline with --gpu-share 2: four nodes start at once, two per GPU, so two
    // of them find their GPU's lock taken. This is what the scheduler must prevent by
    // default (the test above), shown to be observable.
    let project = TestProject::new(FOUR_GPU_NODES);
    let run = project.run(&["-j", "4", "--gpus", "0,1", "--gpu-share", "2", "-k"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.with_status("failed").len(), 2, "{:?}", run.statuses);
}

#[test]
fn a_node_wanting_more_gpus_than_the_run_has_fails_with_the_reason() {
    let project = TestProject::new(
        r#"
stages:
  big:
    cmd: "echo hi > big.txt"
    outs: [big.txt]
    resources: {gpus: 3}
"#,
    );
    let stderr = failed(&project, &["run", "--gpus", "0,1"], 1);
    assert_mentions(
        &stderr,
        &["needs 3 GPU(s) and this run has 2 (from --gpus)"],
    );
    assert!(!project.path("big.txt").exists());
}

#[test]
fn bad_gpu_lists_are_rejected_before_anything_runs() {
    let project = TestProject::new(FOUR_GPU_NODES);
    let stderr = failed(&project, &["run", "--gpus", "0,x"], 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("`x`"), "{stderr}");
    assert!(!project.path("out").exists());
}

#[test]
fn backend_cuda_without_the_backend_or_a_driver_exits_2_with_one_line() {
    if augflow_stages::backend::cuda_backend().is_ok() {
        return; // a CUDA build on a GPU machine: `--backend cuda` is valid there.
    }
    let project = TestProject::new(FOUR_GPU_NODES);
    let stderr = failed(&project, &["run", "--backend", "cuda"], 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // Without the `cuda` feature (the default build) the reason is the build; with it, the
    // missing driver.
    let reason = if cfg!(feature = "cuda") {
        "error: failed to use --backend cuda: no NVIDIA driver"
    } else {
        "error: failed to use --backend cuda: this build has no CUDA backend: build with"
    };
    assert!(stderr.starts_with(reason), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!project.path("out").exists(), "nothing ran");
    // The environment variable is the same switch.
    let output = project
        .command(&["run"])
        .env("AUGFLOW_BACKEND", "cuda")
        .output()
        .expect("run augflow");
    assert_eq!(output.status.code(), Some(2));
}
