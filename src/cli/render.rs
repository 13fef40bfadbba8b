//! Three consumers of runner events: JSON lines, plain lines, an indicatif progress view.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::runner::{Event, NodeStatus, RunSummary};

pub trait Renderer {
    fn handle(&mut self, event: &Event);
}

/// One JSON object per line on stdout (`--json`).
pub struct JsonRenderer;

impl Renderer for JsonRenderer {
    fn handle(&mut self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Plain lines on stderr, for logs and pipes.
pub struct PlainRenderer;

impl Renderer for PlainRenderer {
    fn handle(&mut self, event: &Event) {
        if let Some(line) = plain_line(event, true) {
            eprintln!("{line}");
        }
    }
}

/// A progress bar over all nodes on a terminal; executed and failed nodes get a line.
pub struct ProgressRenderer {
    bar: ProgressBar,
    running: Vec<String>,
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
        }
    }

    fn refresh(&self) {
        self.bar.set_message(match self.running.len() {
            0 => String::new(),
            1 => format!("running {}", self.running[0]),
            n => format!("running {} and {} more", self.running[0], n - 1),
        });
    }
}

impl Renderer for ProgressRenderer {
    fn handle(&mut self, event: &Event) {
        match event {
            Event::RunStarted { nodes, .. } => self.bar.set_length(*nodes as u64),
            Event::NodeExecuting { stage } => {
                self.running.push(stage.clone());
                self.refresh();
            }
            Event::NodeProgress { stage, message, .. } => {
                self.bar.set_message(format!("{stage}: {message}"));
            }
            Event::NodeFinished { stage, status, .. } => {
                self.running.retain(|s| s != stage);
                self.bar.inc(1);
                if let (true, Some(line)) = (
                    !matches!(status, NodeStatus::Cached | NodeStatus::Restored),
                    plain_line(event, false),
                ) {
                    self.bar.println(line);
                }
                self.refresh();
            }
            Event::Warning { .. } => {
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
        } => verbose.then(|| format!("augflow: {pipeline}: {nodes} node(s), {jobs} job(s)")),
        Event::NodeExecuting { stage } => verbose.then(|| format!("running   {stage}")),
        // Plain output is for logs: progress ticks would drown them.
        Event::NodeProgress { .. } => None,
        Event::NodeFinished {
            stage,
            status,
            duration_ms,
            message,
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
