//! The no-op fast path against the full scheduler path it shortcuts.

use augflow_cache::Store;

use crate::graph::{PipelineGraph, build};
use crate::kinds::Registry;
use crate::project::{ExecutorKind, Project};
use crate::runner::engine::Engine;
use crate::runner::events::{Event, NodeStatus};
use crate::runner::{RunOptions, run};
use crate::spec::parse_file;

/// `src` → `mid` → `top`, and 24 independent cells (enough to plan on several threads).
const PIPELINE: &str = r#"
stages:
  mid:
    cmd: "cat src.txt > mid.txt"
    deps: [src.txt]
    outs: [mid.txt]
  top:
    cmd: "cat mid.txt mid.txt > top.txt"
    deps: [mid.txt]
    outs: [top.txt]
  cell:
    matrix:
      i: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]
    cmd: "echo ${i} > cell-${i}.txt"
    outs: ["cell-${i}.txt"]
"#;

struct Fixture {
    dir: tempfile::TempDir,
    graph: PipelineGraph,
    project: Project,
    store: Store,
    registry: Registry,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("augflow.yaml");
    std::fs::write(&file, PIPELINE).unwrap();
    std::fs::write(dir.path().join("src.txt"), "source\n").unwrap();
    let registry = Registry::builtin();
    let graph = build(parse_file(&file).unwrap(), &registry).unwrap();
    let project = Project::open(dir.path(), Some(&dir.path().join("store"))).unwrap();
    let store = Store::open(&project.store_dir).unwrap();
    Fixture {
        dir,
        graph,
        project,
        store,
        registry,
    }
}

/// One `augflow run` with a fresh engine (as a new process would have): the finished
/// events, and how many file digests the stat cache was asked for.
fn run_once(p: &Fixture) -> (Vec<(String, NodeStatus)>, u64) {
    let engine = Engine::new(
        &p.graph,
        &p.project,
        &p.store,
        &p.registry,
        Default::default(),
    );
    let options = RunOptions {
        targets: Vec::new(),
        jobs: 2,
        keep_going: false,
        executor: ExecutorKind::Local,
    };
    let mut finished = Vec::new();
    run(&engine, &options, &mut |event| {
        if let Event::NodeFinished { stage, status, .. } = event {
            finished.push((stage.clone(), *status));
        }
    });
    let stats = engine.stat_cache.stats();
    (finished, stats.hits + stats.misses)
}

#[test]
fn a_no_op_run_digests_each_file_once_and_reports_every_node_cached() {
    let p = fixture();
    let (first, _) = run_once(&p);
    assert_eq!(first.len(), 26);
    assert!(first.iter().all(|(_, s)| *s == NodeStatus::Executed));
    let (second, lookups) = run_once(&p);
    assert_eq!(second.len(), 26);
    assert!(
        second.iter().all(|(_, s)| *s == NodeStatus::Cached),
        "{second:?}"
    );
    // Each workspace file digested once: src.txt and mid.txt as deps, 26 outputs. Planning
    // and then processing every node again digested the outputs twice (52 + 2).
    assert_eq!(lookups, 2 + 26);
}

#[test]
fn a_node_behind_one_whose_output_is_restored_ends_after_it() {
    let p = fixture();
    run_once(&p);
    std::fs::remove_file(p.dir.path().join("mid.txt")).unwrap();
    let (events, _) = run_once(&p);
    let position = |name: &str| events.iter().position(|(s, _)| s == name).unwrap();
    assert!(position("mid") < position("top"), "{events:?}");
    assert!(events.iter().all(|(_, s)| *s == NodeStatus::Cached));
    assert_eq!(
        std::fs::read_to_string(p.dir.path().join("mid.txt")).unwrap(),
        "source\n"
    );
}
