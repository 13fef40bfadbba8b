//! `augflow gc`: keeps what the given pipelines reference now, removes the rest.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::error::CliError;
use super::session::{RemoteArgs, load, select_remote};
use crate::runner::{CancelToken, NodeState, plan, recorded_keys};

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Pipelines whose current results to keep (default: augflow.yaml). All must use the
    /// same store.
    pub pipelines: Vec<PathBuf>,
    /// Show what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Never remove anything written more recently than this (`0`, `90s`, `30m`, `12h`, `7d`):
    /// protects results of runs still in progress.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub grace: Duration,
    /// Collect this remote cache (declared in augflow.toml) instead of the local store. List
    /// every pipeline (and branch checkout) whose results teammates still need.
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// Cap the local store at this size (`500M`, `50G`, `1T`; powers of 1024): removes the
    /// least recently used entries that no given pipeline, and no other project using the
    /// store, needs; never anything used within `--grace`. Everything else stays.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_size: Option<u64>,
}

pub fn run(args: &GcArgs, store_flag: Option<&std::path::Path>) -> Result<(), CliError> {
    let pipelines: Vec<Option<PathBuf>> = if args.pipelines.is_empty() {
        vec![None]
    } else {
        args.pipelines.iter().cloned().map(Some).collect()
    };
    let mut keep = BTreeSet::new();
    let mut named_projects = BTreeSet::new();
    let mut store_dir: Option<PathBuf> = None;
    let mut remote_link = None;
    for pipeline in &pipelines {
        let loaded = load(pipeline.as_deref(), store_flag)?;
        if let Some(first) = store_dir
            .as_ref()
            .filter(|first| *first != &loaded.project.store_dir)
        {
            return Err(CliError::invalid(format!(
                "gc: pipelines use different stores ({} and {})",
                first.display(),
                loaded.project.store_dir.display()
            )));
        }
        store_dir = Some(loaded.project.store_dir.clone());
        named_projects.extend(std::path::absolute(loaded.project.node_records_dir()).ok());
        if let (Some(name), None) = (&args.remote, &remote_link) {
            let selection = RemoteArgs {
                remote: Some(name.clone()),
                no_remote: false,
            };
            match select_remote(&loaded.project, &selection)? {
                Some((_, Ok(link))) => remote_link = Some(link),
                Some((name, Err(err))) => {
                    return Err(CliError::environment(format!(
                        "open remote `{name}`: {err}"
                    )));
                }
                None => {}
            }
        }
        let session = loaded.open_store()?;
        if !args.dry_run {
            remove_stale_scratch(&session.project.tmp_dir(), args.grace);
        }
        let engine = session.engine(CancelToken::new());
        for node_plan in plan(&engine, &session.graph.order) {
            if matches!(node_plan.state, NodeState::UpToDate | NodeState::Restore) {
                keep.extend(node_plan.key_digest);
            }
        }
    }
    let Some(store_dir) = store_dir else {
        return Ok(());
    };
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    if let Some(link) = remote_link {
        let report =
            augflow_cache::remote::gc_remote(link.remote.as_ref(), &keep, args.grace, args.dry_run)
                .map_err(CliError::environment)?;
        println!(
            "remote `{}`: {verb} {} action entries, {} blobs ({} bytes); kept {} entries, {} blobs",
            link.name,
            report.actions_removed,
            report.blobs_removed,
            report.bytes_freed,
            report.kept_actions,
            report.kept_blobs
        );
        return Ok(());
    }
    let store = augflow_cache::Store::open(&store_dir).map_err(CliError::environment)?;
    let others = keep_other_projects(&store, &named_projects, args.dry_run)
        .map_err(CliError::environment)?;
    if others.projects > 0 {
        println!(
            "keeping {} entries last used by {} other project(s) sharing this store",
            others.keys.len(),
            others.projects
        );
    }
    keep.extend(others.keys);
    let report = match args.max_size {
        Some(max) => store.evict_to_size(&keep, args.grace, max, args.dry_run),
        None => store.gc(&keep, args.grace, args.dry_run),
    }
    .map_err(CliError::environment)?;
    println!(
        "{verb} {} action entries, {} blobs ({} bytes), {} temp files; kept {} entries, {} blobs",
        report.actions_removed,
        report.blobs_removed,
        report.bytes_freed,
        report.temps_removed,
        report.kept_actions,
        report.kept_blobs
    );
    if let Some(max) = args.max_size.filter(|max| report.bytes_left > *max) {
        println!(
            "the store still holds {} bytes, above --max-size {max}: the rest is needed or used within --grace",
            report.bytes_left
        );
    }
    Ok(())
}

struct OtherProjects {
    keys: BTreeSet<augflow_cache::Digest>,
    projects: usize,
}

/// The keys other projects registered with this store last used (their node records),
/// so that gc from one project never deletes what another needs. Projects whose folder is
/// gone are forgotten.
fn keep_other_projects(
    store: &augflow_cache::Store,
    named: &BTreeSet<PathBuf>,
    dry_run: bool,
) -> Result<OtherProjects, augflow_cache::CacheError> {
    let mut others = OtherProjects {
        keys: BTreeSet::new(),
        projects: 0,
    };
    for dir in store.projects()? {
        if named.contains(&dir) {
            continue;
        }
        if !dir.is_dir() {
            if !dry_run {
                store.forget_project(&dir)?;
            }
            continue;
        }
        others.projects += 1;
        others.keys.extend(recorded_keys(&dir));
    }
    Ok(others)
}

/// Scratch folders of typed stages killed mid-run (a finished run removes its own).
fn remove_stale_scratch(tmp: &std::path::Path, grace: Duration) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let old_enough = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= grace);
        if old_enough && let Err(err) = crate::fsutil::remove_path(&entry.path()) {
            tracing::warn!("failed to remove scratch {}: {err}", entry.path().display());
        }
    }
}

/// `90s` → (90, "s"); `example` completes the error, e.g. "a duration like 90s".
fn number_and_unit<'t>(text: &'t str, example: &str) -> Result<(u64, &'t str), String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number
        .parse()
        .map_err(|_| format!("`{text}` is not {example}"))?;
    Ok((number, unit))
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = number_and_unit(text, "a duration like 90s, 30m, 12h or 7d")?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{unit}` is not a unit: use s, m, h or d")),
    };
    Ok(Duration::from_secs(number.saturating_mul(factor)))
}

/// `500M`, `50G`, `1T`, `2048` (bytes): binary units, as `du -h` prints them.
fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = number_and_unit(text, "a size like 500M, 50G or 1T")?;
    let shift = match unit.trim_end_matches(['B', 'b']) {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        _ => return Err(format!("`{unit}` is not a unit: use K, M, G or T")),
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{}` is too large", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("2048"), Ok(2048));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("50G"), Ok(50 << 30));
        assert_eq!(parse_size("1TB"), Ok(1 << 40));
        assert!(parse_size("5X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("2w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
