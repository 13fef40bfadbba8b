//! Job arrays against the in-memory cluster: ready siblings share one `sbatch` call, and
//! each task is a job of its own for dependencies, failures and the queue cap.

use super::fake::FakeCluster;
use super::tests::{CONFIG, Harness, run, run_nodes, statuses, submissions};
use crate::runner::events::NodeStatus;

/// `prep`, then 40 cells that read its output, then `all` that reads every cell.
fn fan_out_pipeline() -> String {
    let axis: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let cells: Vec<String> = (0..40).map(|i| format!("\"cells/{i}.txt\"")).collect();
    format!(
        r#"
stages:
  prep:
    cmd: "echo prep > prep.txt"
    outs: [prep.txt]
  cell:
    matrix:
      i: [{}]
    cmd: "mkdir -p cells && cat prep.txt > cells/${{i}}.txt && echo ${{i}} >> cells/${{i}}.txt"
    deps: [prep.txt]
    outs: ["cells/${{i}}.txt"]
  all:
    cmd: "cat cells/*.txt | wc -l > all.txt"
    deps: [{}]
    outs: [all.txt]
"#,
        axis.join(", "),
        cells.join(", ")
    )
}

#[test]
fn ready_siblings_of_a_matrix_stage_go_out_as_job_arrays() {
    for (config, sbatch_calls, peak) in [
        // prep; the 40 cells waiting on prep's job in arrays of 16, 16 and 8; all.
        ("array_size = 16\n", 5..=5, 42),
        // At most 10 queued: the cells go out in arrays as room frees up (10 calls with the
        // fake cluster's timing, against 42 without arrays).
        ("max_queued = 10\n", 3..=12, 10),
        // Arrays off: one call per node.
        ("array_size = 1\n", 42..=42, 42),
    ] {
        let h = Harness::new(&fan_out_pipeline(), &format!("{CONFIG}{config}"));
        let engine = h.engine();
        let fake = FakeCluster::new(8, run_nodes(&engine));
        let (summary, events) = run(&engine, &fake, false);
        assert_eq!(summary.executed, 42, "{config}");
        assert!(
            sbatch_calls.contains(&fake.sbatch_calls()),
            "{config}: {} sbatch calls",
            fake.sbatch_calls()
        );
        assert!(
            fake.peak_queued() <= peak,
            "{config}: {}",
            fake.peak_queued()
        );
        assert_eq!(h.read("all.txt"), "80\n", "{config}");
        // Every node's job is its own (array tasks are `<job>_<task>`), and each node
        // was submitted once.
        let submitted = submissions(&events);
        assert_eq!(submitted.len(), 42);
        assert_eq!(fake.submitted().len(), 42);
    }
}

#[test]
fn a_failed_array_task_cancels_only_its_own_dependents() {
    let pipeline = r#"
stages:
  cell:
    matrix:
      i: [1, 2, 3, 4]
    cmd: "test ${i} != 3 && echo ${i} > c${i}.txt"
    outs: ["c${i}.txt"]
  post:
    matrix:
      i: [1, 2, 3, 4]
    cmd: "cat c${i}.txt > p${i}.txt"
    deps: ["c${i}.txt"]
    outs: ["p${i}.txt"]
"#;
    let h = Harness::new(pipeline, CONFIG);
    let engine = h.engine();
    let fake = FakeCluster::new(1, run_nodes(&engine));
    let (summary, events) = run(&engine, &fake, true);
    let ended = statuses(&events);
    assert_eq!(ended["cell@3"], NodeStatus::Failed);
    assert_eq!(ended["post@3"], NodeStatus::Skipped);
    assert_eq!(summary.executed, 6);
    assert_eq!(h.read("p4.txt"), "4\n");
    // The four cells were one array; post@i=3's job, queued behind task 2, was cancelled.
    assert_eq!(fake.jobs_of("cell@3").len(), 1);
    assert!(fake.jobs_of("cell@3")[0].contains('_'));
    assert!(fake.cancelled().contains(&fake.jobs_of("post@3")[0]));
}
