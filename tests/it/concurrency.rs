//! Two `augflow run` processes on one project and store at the same time.

use crate::common::{TestProject, names, parse_run};

#[test]
fn two_concurrent_runs_both_succeed_and_each_node_executes_once() {
    let project = TestProject::new(
        r#"
stages:
  a:
    cmd: "sleep 0.3 && echo a > a.txt"
    outs: [a.txt]
  b:
    matrix:
      n: [1, 2, 3]
    cmd: "sleep 0.1 && cat a.txt > b${n}.txt && echo ${n} >> b${n}.txt"
    deps: [a.txt]
    outs: ["b${n}.txt"]
  c:
    cmd: "cat b1.txt b2.txt b3.txt > c.txt"
    deps: [b1.txt, b2.txt, b3.txt]
    outs: [c.txt]
"#,
    );
    let first = project
        .command(&["run", "--json", "-j", "2"])
        .spawn_output();
    let second = project.command(&["run", "--json"]).spawn_output();
    let (first, second) = (parse_run(&first.join()), parse_run(&second.join()));
    first.assert_ok();
    second.assert_ok();
    let all = names(&["a", "b@1", "b@2", "b@3", "c"]);
    for node in &all {
        let executed = [&first, &second]
            .iter()
            .filter(|r| r.statuses.get(node).map(String::as_str) == Some("executed"))
            .count();
        assert_eq!(
            executed, 1,
            "{node} executed {executed} times: {first:#?} {second:#?}"
        );
    }
    assert_eq!(project.read("c.txt"), "a\n1\na\n2\na\n3\n");
    assert!(project.run(&[]).executed().is_empty());
}

/// Starts a command now and collects its output later.
trait SpawnOutput {
    fn spawn_output(&mut self) -> Pending;
}

struct Pending(std::process::Child);

impl Pending {
    fn join(self) -> std::process::Output {
        self.0.wait_with_output().expect("wait")
    }
}

impl SpawnOutput for std::process::Command {
    fn spawn_output(&mut self) -> Pending {
        Pending(
            self.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn"),
        )
    }
}
