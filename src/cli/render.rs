//! Three consumers of runner events: JSON lines, plain lines, an indicatif progress view.

use std::io::{IsTerminal, Stderr, Stdout, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::runner::{Event, NodeStatus, RunSummary};

pub trait Renderer {
    fn handle(&mut self, event: &Event);
}

impl<R: Renderer + ?Sized> Renderer for Box<R> {
    fn handle(&mut self, event: &Event) {
        (**self).handle(event);
    }
}

/// Prints `value` as pretty JSON on stdout: what every command's `--json` answer is.
pub fn print_json(value: &impl serde::Serialize) {
    if let Ok(text) = serde_json::to_string_pretty(value) {
        println!("{text}");
    }
}

/// The renderer of a run: JSON lines with `--json`, else a progress bar on a terminal and
/// plain lines in logs and pipes.
pub fn for_run(json: bool) -> Box<dyn Renderer> {
    if json {
        Box::new(JsonRenderer::stdout())
    } else if std::io::stderr().is_terminal() {
        Box::new(ProgressRenderer::new())
    } else {
        Box::new(PlainRenderer::stderr())
    }
}

/// One JSON object per line (`--json`, on stdout), flushed at once for readers that
/// follow the run.
pub struct JsonRenderer<W: Write = Stdout> {
    out: W,
}

impl JsonRenderer {
    pub fn stdout() -> JsonRenderer {
        JsonRenderer {
            out: std::io::stdout(),
        }
    }
}

impl<W: Write> Renderer for JsonRenderer<W> {
    fn handle(&mut self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }
}

/// Plain lines (on stderr), for logs and pipes.
pub struct PlainRenderer<W: Write = Stderr> {
    out: W,
}

impl PlainRenderer {
    pub fn stderr() -> PlainRenderer {
        PlainRenderer {
            out: std::io::stderr(),
        }
    }
}

impl<W: Write> Renderer for PlainRenderer<W> {
    fn handle(&mut self, event: &Event) {
        if let Some(line) = plain_line(event, true) {
            let _ = writeln!(self.out, "{line}");
        }
    }
}

/// Leaves out the nodes that were simply reused from the store (`run --watch` prints only
/// what changed).
pub struct OnlyChanges<R: Renderer>(pub R);

impl<R: Renderer> Renderer for OnlyChanges<R> {
    fn handle(&mut self, event: &Event) {
        if let Event::NodeFinished {
            status: NodeStatus::Cached,
            ..
        } = event
        {
            return;
        }
        self.0.handle(event);
    }
}

/// A progress bar over all nodes on a terminal; executed and failed nodes get a line.
pub struct ProgressRenderer {
    bar: ProgressBar,
    running: Vec<String>,
    /// Estimated ms of nodes expected to execute and not finished yet.
    pending: std::collections::BTreeMap<String, u64>,
    started: std::collections::BTreeMap<String, std::time::Instant>,
    /// Nodes submitted to Slurm that do not run yet.
    queued: std::collections::BTreeSet<String>,
    jobs: usize,
}

impl ProgressRenderer {
    pub fn new() -> ProgressRenderer {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        ProgressRenderer {
            bar,
            running: Vec::new(),
            pending: std::collections::BTreeMap::new(),
            started: std::collections::BTreeMap::new(),
            queued: std::collections::BTreeSet::new(),
            jobs: 1,
        }
    }

    fn refresh(&self) {
        let mut running = match self.running.len() {
            0 => String::new(),
            1 => format!("running {}", self.running[0]),
            n => format!("running {} and {} more", self.running[0], n - 1),
        };
        if !self.queued.is_empty() {
            let sep = if running.is_empty() { "" } else { ", " };
            running.push_str(&format!("{sep}{} queued on Slurm", self.queued.len()));
        }
        self.bar.set_message(match self.remaining_secs() {
            Some(secs) if !running.is_empty() => format!("{running}, ~{} left", human(secs)),
            _ => running,
        });
    }

    /// Seconds left by the recorded durations of what is still to run, spread over the jobs.
    fn remaining_secs(&self) -> Option<u64> {
        if self.pending.is_empty() {
            return None;
        }
        let ms: u64 = self
            .pending
            .iter()
            .map(|(node, &estimate)| {
                let elapsed = self.started.get(node).map_or(0, |t| {
                    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
                });
                estimate.saturating_sub(elapsed)
            })
            .sum();
        Some(ms / 1000 / self.jobs.max(1) as u64)
    }
}

impl Renderer for ProgressRenderer {
    fn handle(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                nodes,
                jobs,
                estimates,
                ..
            } => {
                self.bar.set_length(*nodes as u64);
                self.pending = estimates.clone();
                self.jobs = *jobs;
            }
            Event::NodeSubmitted { stage, .. } => {
                self.queued.insert(stage.clone());
                self.refresh();
            }
            Event::JobState { .. } => {}
            Event::NodeExecuting { stage } => {
                self.queued.remove(stage);
                self.running.push(stage.clone());
                self.started
                    .insert(stage.clone(), std::time::Instant::now());
                self.refresh();
            }
            Event::NodeProgress { stage, message, .. } => {
                self.bar.set_message(format!("{stage}: {message}"));
            }
            Event::NodeFinished { stage, status, .. } => {
                self.queued.remove(stage);
                self.running.retain(|s| s != stage);
                self.pending.remove(stage);
                self.bar.inc(1);
                if let (true, Some(line)) = (
                    !matches!(status, NodeStatus::Cached | NodeStatus::Restored),
                    plain_line(event, false),
                ) {
                    self.bar.println(line);
                }
                self.refresh();
            }
            Event::Warning { .. } | Event::NodeRetrying { .. } => {
                if let Some(line) = plain_line(event, false) {
                    self.bar.println(line);
                }
            }
            Event::RunFinished(summary) => {
                self.bar.finish_and_clear();
                eprintln!("{}", summary_line(summary));
            }
        }
    }
}

fn plain_line(event: &Event, verbose: bool) -> Option<String> {
    match event {
        Event::RunStarted {
            pipeline,
            nodes,
            jobs,
            estimates,
        } => verbose.then(|| {
            let expected: u64 = estimates.values().sum();
            let eta = if estimates.is_empty() {
                String::new()
            } else {
                format!(
                    ", about {} of work expected from recorded durations",
                    human(expected / 1000)
                )
            };
            format!("augflow: {pipeline}: {nodes} node(s), {jobs} job(s){eta}")
        }),
        Event::NodeSubmitted {
            stage,
            job,
            log,
            adopted,
        } => verbose.then(|| {
            let verb = if *adopted { "adopted " } else { "submitted" };
            format!("{verb} {stage} as Slurm job {job} (log: {log})")
        }),
        Event::JobState {
            stage,
            job,
            state,
            reason,
        } => verbose.then(|| match reason {
            Some(reason) => format!("job {job}  {stage}: {state} ({reason})"),
            None => format!("job {job}  {stage}: {state}"),
        }),
        Event::NodeExecuting { stage } => verbose.then(|| format!("running   {stage}")),
        // Plain output is for logs: progress ticks would drown them.
        Event::NodeProgress { .. } => None,
        Event::NodeRetrying {
            stage,
            attempt,
            reason,
        } => Some(format!("retrying  {stage} (attempt {attempt}): {reason}")),
        Event::NodeFinished {
            stage,
            status,
            duration_ms,
            message,
            attempts,
            ..
        } => {
            let label = match status {
                NodeStatus::Failed => "FAILED  ",
                other => other.as_str(),
            };
            let mut line = format!("{label:<9} {stage}");
            if *status == NodeStatus::Executed {
                line.push_str(&format!(" ({})", seconds(*duration_ms)));
            }
            if let Some(attempts) = attempts {
                line.push_str(&format!(" after {attempts} attempts"));
            }
            if let Some(message) = message {
                line.push_str(": ");
                line.push_str(message);
            }
            Some(line)
        }
        Event::Warning { stage, message } => Some(match stage {
            Some(stage) => format!("warning: {stage}: {message}"),
            None => format!("warning: {message}"),
        }),
        Event::RunFinished(summary) => verbose.then(|| summary_line(summary)),
    }
}

fn summary_line(summary: &RunSummary) -> String {
    let mut line = format!(
        "{} executed, {} cached, {} restored, {} failed, {} skipped in {}",
        summary.executed,
        summary.cached,
        summary.restored,
        summary.failed,
        summary.skipped,
        seconds(summary.duration_ms)
    );
    if summary.interrupted {
        line.push_str(" (interrupted)");
    }
    line
}

fn seconds(millis: u64) -> String {
    format!("{:.2} s", millis as f64 / 1000.0)
}

/// `75` → "1m15s".
fn human(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
