//! The incremental runner against a model, on random DAGs and random edits: after each
//! edit, exactly the nodes whose (param, input bytes) were never run before execute, and every output
//! equals a from-scratch run's.

use std::collections::BTreeMap;

use crate::common::TestProject;

/// Small deterministic generator (SplitMix64), so failures replay from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Node {
    deps: Vec<usize>,
    param: u64,
    /// Ignores its param's value in its output (exercises early cutoff).
    constant: bool,
}

fn pipeline(nodes: &[Node]) -> String {
    let mut text = String::from("stages:\n");
    for (i, node) in nodes.iter().enumerate() {
        let inputs: Vec<String> = node.deps.iter().map(|d| format!("n{d}.txt")).collect();
        let echo = if node.constant {
            "fixed".to_owned()
        } else {
            "${p}".to_owned()
        };
        let cat = if inputs.is_empty() {
            "true".to_owned()
        } else {
            format!("cat {}", inputs.join(" "))
        };
        text.push_str(&format!(
            "  n{i}:\n    cmd: \"({cat}; echo n{i} {echo}) > n{i}.txt\"\n    params: {{p: {}}}\n    deps: [{}]\n    outs: [n{i}.txt]\n",
            node.param,
            inputs.join(", ")
        ));
    }
    text
}

/// The bytes each node must produce.
fn model(nodes: &[Node]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let mut text: String = node.deps.iter().map(|&d| out[d].clone()).collect();
        if node.constant {
            text.push_str(&format!("n{i} fixed\n"));
        } else {
            text.push_str(&format!("n{i} {}\n", node.param));
        }
        out.push(text);
    }
    out
}

#[test]
fn random_dags_and_edits_rerun_exactly_what_the_model_says() {
    for seed in [1u64, 2, 3] {
        let mut rng = Rng(seed);
        let count = 6 + rng.below(5) as usize;
        let mut nodes: Vec<Node> = (0..count)
            .map(|i| Node {
                deps: (0..i).filter(|_| rng.below(3) == 0).collect(),
                param: rng.below(3),
                constant: rng.below(4) == 0,
            })
            .collect();
        let project = TestProject::new(&pipeline(&nodes));
        project.run(&[]).assert_ok();
        // A node executes exactly when its (param, input bytes) were never run before:
        // changing a param back is a cache hit.
        let mut seen: std::collections::BTreeSet<(usize, u64, String)> = Default::default();
        let inputs_of = |nodes: &[Node], out: &[String], i: usize| -> String {
            nodes[i].deps.iter().map(|&d| out[d].clone()).collect()
        };
        let first = model(&nodes);
        for i in 0..count {
            seen.insert((i, nodes[i].param, inputs_of(&nodes, &first, i)));
        }

        for step in 0..4 {
            let target = rng.below(count as u64) as usize;
            nodes[target].param = (nodes[target].param + 1 + rng.below(2)) % 3;
            project.write("augflow.yaml", &pipeline(&nodes));
            let after = model(&nodes);

            let mut expected: Vec<String> = Vec::new();
            for (i, node) in nodes.iter().enumerate() {
                if seen.insert((i, node.param, inputs_of(&nodes, &after, i))) {
                    expected.push(format!("n{i}"));
                }
            }
            expected.sort();
            let result = project.run(&["-j", "2"]);
            result.assert_ok();
            assert_eq!(result.executed(), expected, "seed {seed} step {step}");

            let scratch = TestProject::new(&pipeline(&nodes));
            scratch.run(&[]).assert_ok();
            let outputs: BTreeMap<usize, String> = (0..count)
                .map(|i| (i, project.read(&format!("n{i}.txt"))))
                .collect();
            for (i, text) in &outputs {
                assert_eq!(text, &after[*i], "seed {seed} step {step} n{i} vs model");
                assert_eq!(text, &scratch.read(&format!("n{i}.txt")), "vs from scratch");
            }
        }
    }
}
