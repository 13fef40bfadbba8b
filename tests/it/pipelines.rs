//! Every example pipeline under `pipelines/` parses and validates.

use std::path::Path;

use augflow::graph::build;
use augflow::kinds::Registry;
use augflow::spec::parse_file;

#[test]
fn every_example_pipeline_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("pipelines/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let parsed = parse_file(&path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        let graph = build(parsed, &Registry::builtin())
            .unwrap_or_else(|e| panic!("{}: {:?}", path.display(), miette::Report::new(e)));
        assert!(!graph.order.is_empty(), "{} has no nodes", path.display());
        checked += 1;
    }
    assert!(checked >= 2, "expected example pipelines in {}", dir.display());
}
