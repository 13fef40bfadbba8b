//! No import loop between the modules of a crate (issue 13): two sibling files that each
//! use the other, directly or around a longer loop, cannot be read, tested or split one
//! at a time. A module and its own ancestors or descendants are not a loop (`mod.rs`
//! declares its children, a child reaches `super::`); unit-test modules may import
//! anything. Paths are read from the source as text: `crate::`, `super::` and `self::`
//! paths, `use` groups included, resolved to the longest module they name.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type ModulePath = Vec<String>;

/// Every module file under `src`, by module path (`lib.rs`, `main.rs` and `mod.rs` name
/// their folder's module).
fn module_files(src: &Path) -> BTreeMap<ModulePath, PathBuf> {
    let mut found = BTreeMap::new();
    for entry in walkdir::WalkDir::new(src) {
        let path = entry.unwrap().into_path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix(src).unwrap().with_extension("");
        let mut module: ModulePath = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(
            module.last().map(String::as_str),
            Some("lib" | "main" | "mod")
        ) {
            module.pop();
        }
        found.insert(module, path);
    }
    found
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifiers of a path that starts right after `crate::`, `super::` or `self::`,
/// one list per name a `{…}` group imports (nested groups keep their first segment).
fn paths_after(rest: &str) -> Vec<ModulePath> {
    let mut prefix = ModulePath::new();
    let mut text = rest;
    loop {
        if let Some(group) = text.strip_prefix('{') {
            // The group's items, split at its own commas, up to its closing brace.
            let mut items = Vec::new();
            let (mut depth, mut start) = (0, 0);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        items.push(&group[start..i]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&group[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return items
                .iter()
                .filter_map(|item| {
                    let name: String = item.trim().chars().take_while(|&c| is_ident(c)).collect();
                    (!name.is_empty() && name != "self")
                        .then(|| [prefix.clone(), vec![name]].concat())
                })
                .collect();
        }
        let name: String = text.chars().take_while(|&c| is_ident(c)).collect();
        if name.is_empty() {
            return vec![prefix];
        }
        text = &text[name.len()..];
        prefix.push(name);
        match text.strip_prefix("::") {
            Some(next) => text = next,
            None => return vec![prefix],
        }
    }
}

/// The module paths `module`'s own code (comments and unit tests left out) refers to.
fn references(module: &ModulePath, source: &str) -> Vec<ModulePath> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let code: String = code
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(c) = code[at..].chars().next() {
        let boundary = code[..at]
            .chars()
            .next_back()
            .is_none_or(|p| !is_ident(p) && p != ':');
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|head| code[at..].starts_with(head));
        let Some(head) = head.filter(|_| boundary) else {
            at += c.len_utf8();
            continue;
        };
        let mut base = match head {
            "crate::" => ModulePath::new(),
            "self::" => module.clone(),
            _ => module[..module.len().saturating_sub(1)].to_vec(),
        };
        let mut rest = &code[at + head.len()..];
        while let Some(next) = rest.strip_prefix("super::") {
            base.pop();
            rest = next;
        }
        for tail in paths_after(rest) {
            found.push([base.clone(), tail].concat());
        }
        at += head.len();
    }
    found
}

/// The loops of the crate whose sources are in `src`, each as its modules in order.
fn import_loops(src: &Path) -> Vec<Vec<String>> {
    let files = module_files(src);
    let mut edges: BTreeMap<&ModulePath, BTreeSet<&ModulePath>> = BTreeMap::new();
    for (module, path) in &files {
        let source = fs::read_to_string(path).unwrap();
        for reference in references(module, &source) {
            let target = (0..=reference.len())
                .rev()
                .find_map(|n| files.get_key_value(&reference[..n]).map(|(k, _)| k));
            let Some(target) = target else { continue };
            let related = target.starts_with(module) || module.starts_with(target);
            if !related {
                edges.entry(module).or_default().insert(target);
            }
        }
    }
    // Depth-first search; a grey module met again closes a loop.
    fn visit<'a>(
        module: &'a ModulePath,
        edges: &BTreeMap<&'a ModulePath, BTreeSet<&'a ModulePath>>,
        stack: &mut Vec<&'a ModulePath>,
        done: &mut BTreeSet<&'a ModulePath>,
        loops: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = stack.iter().position(|m| *m == module) {
            loops.push(stack[at..].iter().map(|m| m.join("::")).collect());
            return;
        }
        if !done.insert(module) {
            return;
        }
        stack.push(module);
        for next in edges.get(module).into_iter().flatten() {
            visit(next, edges, stack, done, loops);
        }
        stack.pop();
    }
    let mut loops = Vec::new();
    let mut done = BTreeSet::new();
    for module in files.keys() {
        visit(module, &edges, &mut Vec::new(), &mut done, &mut loops);
    }
    loops
}

#[test]
fn no_crate_has_an_import_loop_between_its_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for src in ["src", "cache/src", "stages/src"] {
        let loops = import_loops(&root.join(src));
        assert!(loops.is_empty(), "{src}: import loops {loops:#?}");
    }
}

#[test]
fn an_import_loop_between_two_files_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    fs::create_dir(src.join("report")).unwrap();
    fs::write(
        src.join("lib.rs"),
        "mod report;\nuse crate::report::study::Run;\n",
    )
    .unwrap();
    fs::write(src.join("report/mod.rs"), "mod study;\nmod pooled;\n").unwrap();
    fs::write(
        src.join("report/study.rs"),
        "use super::pooled::{Pooled, pooled};\n// use super::nothing::Here;\n",
    )
    .unwrap();
    fs::write(
        src.join("report/pooled.rs"),
        "use super::{study::{Run, amount_key}};\n#[cfg(test)]\nuse crate::lib_only;\n",
    )
    .unwrap();
    assert_eq!(
        import_loops(src),
        [vec![
            "report::pooled".to_owned(),
            "report::study".to_owned()
        ]]
    );
    // Without the pooled → study edge there is no loop; the parent's import is not one.
    fs::write(src.join("report/pooled.rs"), "use crate::report::Other;\n").unwrap();
    assert!(import_loops(src).is_empty());
}
