//! The Slurm client commands the executor uses: `sbatch`, `squeue`, `scancel`. Only these
//! three, and never `sacct` (accounting is often off on small clusters).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::project::{SlurmConfig, SlurmResources};

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("run `{command}` (is Slurm installed and SLURM_CONF set?)")]
    Spawn {
        command: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("submit the job with sbatch: {stderr}")]
    Submit { stderr: String },
    #[error("read a job id from sbatch's answer {answer:?}")]
    JobId { answer: String },
    #[error("query job states with squeue: {stderr}")]
    Query { stderr: String },
}

/// One job's submission: everything `sbatch` gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub job_name: String,
    pub workdir: PathBuf,
    /// Output file of the job (stdout and stderr).
    pub log: PathBuf,
    /// Jobs that must complete successfully first.
    pub after_ok: Vec<String>,
    /// The command the job runs, one argument per element (unused for an array).
    pub argv: Vec<String>,
    /// When not empty, a job array: task `i` runs `array[i]`, and `log` is the prefix of
    /// Slurm's own per-task output files (the tasks write their node's log themselves).
    pub array: Vec<ArrayTask>,
}

/// One task of a job array: a node's command and log.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayTask {
    pub node: String,
    pub argv: Vec<String>,
    pub log: PathBuf,
}

/// The id of task `task` of array job `job`, as squeue, scancel and `afterok` name it.
pub fn array_task_id(job: &str, task: usize) -> String {
    format!("{job}_{task}")
}

/// `sbatch` arguments of a submission, in a stable order (tested).
pub fn sbatch_args(
    config: &SlurmConfig,
    resources: &SlurmResources,
    submission: &Submission,
) -> Vec<String> {
    // `%` starts a Slurm filename pattern; node names are taken literally.
    let log = submission.log.display().to_string().replace('%', "%%");
    let mut args = vec![
        "--parsable".to_owned(),
        format!("--job-name={}", submission.job_name),
        format!("--chdir={}", submission.workdir.display()),
    ];
    if submission.array.is_empty() {
        args.push(format!("--output={log}"));
    } else {
        args.push(format!("--array=0-{}", submission.array.len() - 1));
        args.push(format!("--output={log}_%A_%a.log"));
    }
    // A job whose dependency failed is cancelled instead of pending forever.
    args.push("--kill-on-invalid-dep=yes".to_owned());
    if !submission.after_ok.is_empty() {
        args.push(format!(
            "--dependency=afterok:{}",
            submission.after_ok.join(":")
        ));
    }
    if let Some(partition) = &config.partition {
        args.push(format!("--partition={partition}"));
    }
    if let Some(account) = &config.account {
        args.push(format!("--account={account}"));
    }
    if let Some(time) = &resources.time {
        args.push(format!("--time={time}"));
    }
    if let Some(mem) = &resources.mem {
        args.push(format!("--mem={mem}"));
    }
    if let Some(gres) = &resources.gres {
        args.push(format!("--gres={gres}"));
    }
    if let Some(cpus) = resources.cpus_per_task {
        args.push(format!("--cpus-per-task={cpus}"));
    }
    args.extend(config.sbatch_args.iter().cloned());
    args.extend(resources.extra.iter().cloned());
    args
}

/// The batch script: `exec` of the job's command, each argument single-quoted; for an
/// array, the command of task `$SLURM_ARRAY_TASK_ID`, writing its node's log.
pub fn batch_script(submission: &Submission) -> String {
    if submission.array.is_empty() {
        return format!(
            "#!/bin/sh\n# Written by augflow: runs one pipeline node.\nexec {}\n",
            quoted(&submission.argv)
        );
    }
    let mut script = String::from(
        "#!/bin/sh\n# Written by augflow: runs one pipeline node per array task.\n\
         case \"$SLURM_ARRAY_TASK_ID\" in\n",
    );
    for (task, run) in submission.array.iter().enumerate() {
        let log = shell_quote(&run.log.display().to_string());
        script.push_str(&format!(
            "{task}) exec {} >{log} 2>&1 ;;\n",
            quoted(&run.argv)
        ));
    }
    script.push_str(
        "esac\necho \"augflow: no node for array task $SLURM_ARRAY_TASK_ID\" >&2\nexit 1\n",
    );
    script
}

fn quoted(argv: &[String]) -> String {
    let quoted: Vec<String> = argv.iter().map(|arg| shell_quote(arg)).collect();
    quoted.join(" ")
}

fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Submits one job, or one job array (its tasks are then `array_task_id(id, i)`); returns
/// its id.
pub fn submit(
    config: &SlurmConfig,
    resources: &SlurmResources,
    submission: &Submission,
) -> Result<String, SlurmError> {
    let logs = std::iter::once(&submission.log).chain(submission.array.iter().map(|t| &t.log));
    for parent in logs.filter_map(|log| log.parent()) {
        std::fs::create_dir_all(parent).map_err(|source| SlurmError::Spawn {
            command: "sbatch",
            source,
        })?;
    }
    let spawn_error = |source| SlurmError::Spawn {
        command: "sbatch",
        source,
    };
    let mut child = Command::new("sbatch")
        .args(sbatch_args(config, resources, submission))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(batch_script(submission).as_bytes())
            .map_err(spawn_error)?;
    }
    let output = child.wait_with_output().map_err(spawn_error)?;
    if !output.status.success() {
        return Err(SlurmError::Submit {
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    parse_job_id(&String::from_utf8_lossy(&output.stdout))
}

/// `sbatch --parsable` answers `id` or `id;cluster`.
pub fn parse_job_id(answer: &str) -> Result<String, SlurmError> {
    let id = answer.trim().split(';').next().unwrap_or("").trim();
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(id.to_owned())
    } else {
        Err(SlurmError::JobId {
            answer: answer.trim().to_owned(),
        })
    }
}

/// A job's state as `squeue` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`…
    pub state: String,
    /// Slurm's reason (`Dependency`, `Resources`, `NonZeroExitCode`…); `None` for "None".
    pub reason: Option<String>,
}

/// Where a job stands, for the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Running,
    Completed,
    Failed,
}

impl JobInfo {
    pub fn phase(&self) -> Phase {
        match self.state.as_str() {
            "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
            | "RESV_DEL_HOLD" | "SUSPENDED" | "STOPPED" | "SIGNALING" => {
                // A dependency that can never be met is a failure, not a wait.
                if self.reason.as_deref() == Some("DependencyNeverSatisfied") {
                    Phase::Failed
                } else {
                    Phase::Queued
                }
            }
            "RUNNING" | "COMPLETING" | "STAGE_OUT" | "RESIZING" => Phase::Running,
            "COMPLETED" => Phase::Completed,
            _ => Phase::Failed,
        }
    }
}

/// States of the given jobs; jobs Slurm no longer knows (purged after `MinJobAge`, or from
/// another cluster) are absent from the answer.
pub fn query(ids: &[String]) -> Result<BTreeMap<String, JobInfo>, SlurmError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let output = run_slurm_command(
        "squeue",
        [
            "--noheader",
            // Pending array tasks one per line (`12_3`), not folded into `12_[3-9]`.
            "--array",
            "--states=all",
            "--format=%i|%T|%r",
            &format!("--jobs={}", ids.join(",")),
        ],
    )?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        // squeue fails when none of the ids is known any more: that is an empty answer.
        if stderr.contains("Invalid job id") {
            return Ok(BTreeMap::new());
        }
        return Err(SlurmError::Query {
            stderr: stderr.trim().to_owned(),
        });
    }
    Ok(parse_squeue(&String::from_utf8_lossy(&output.stdout)))
}

/// Runs a Slurm client command without input and collects its output.
fn run_slurm_command(
    command: &'static str,
    args: impl IntoIterator<Item = impl AsRef<std::ffi::OsStr>>,
) -> Result<std::process::Output, SlurmError> {
    Command::new(command)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| SlurmError::Spawn { command, source })
}

/// Lines of `squeue --format=%i|%T|%r`.
pub fn parse_squeue(text: &str) -> BTreeMap<String, JobInfo> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().splitn(3, '|');
            let id = fields.next()?.trim();
            let state = fields.next()?.trim();
            let reason = fields.next().map(str::trim).unwrap_or("None");
            (!id.is_empty() && !state.is_empty()).then(|| {
                (
                    id.to_owned(),
                    JobInfo {
                        state: state.to_owned(),
                        reason: (reason != "None" && !reason.is_empty()).then(|| reason.to_owned()),
                    },
                )
            })
        })
        .collect()
}

/// Cancels jobs; unknown or finished ones are ignored by Slurm.
pub fn cancel(ids: &[String]) -> Result<(), SlurmError> {
    if ids.is_empty() {
        return Ok(());
    }
    let output = run_slurm_command("scancel", ids)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(SlurmError::Query {
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// The last `lines` lines of a job's log, for a failure message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::{
        ArrayTask, JobInfo, Phase, Submission, array_task_id, batch_script, parse_job_id,
        parse_squeue, sbatch_args,
    };
    use crate::project::{SlurmConfig, SlurmResources};
    use std::path::PathBuf;

    #[test]
    fn sbatch_arguments_carry_dependencies_and_resources() {
        let config = SlurmConfig {
            partition: Some("gpu".into()),
            account: Some("lab".into()),
            sbatch_args: vec!["--qos=short".into()],
            ..SlurmConfig::default()
        };
        let resources = SlurmResources {
            time: Some("01:00:00".into()),
            mem: None,
            gres: Some("gpu:1".into()),
            cpus_per_task: Some(4),
            extra: vec!["--constraint=a100".into()],
        };
        let submission = Submission {
            job_name: "augflow:train@lr=0.1".into(),
            workdir: PathBuf::from("/p"),
            log: PathBuf::from("/p/.augflow/slurm/logs/train@lr=0.1%x.log"),
            after_ok: vec!["12".into(), "15".into()],
            argv: vec![],
            array: vec![],
        };
        assert_eq!(
            sbatch_args(&config, &resources, &submission),
            [
                "--parsable",
                "--job-name=augflow:train@lr=0.1",
                "--chdir=/p",
                "--output=/p/.augflow/slurm/logs/train@lr=0.1%%x.log",
                "--kill-on-invalid-dep=yes",
                "--dependency=afterok:12:15",
                "--partition=gpu",
                "--account=lab",
                "--time=01:00:00",
                "--gres=gpu:1",
                "--cpus-per-task=4",
                "--qos=short",
                "--constraint=a100",
            ]
        );
    }

    fn submission(argv: &[&str], array: Vec<ArrayTask>) -> Submission {
        Submission {
            job_name: "augflow:cell".into(),
            workdir: PathBuf::from("/p"),
            log: PathBuf::from("/p/logs/cell@array"),
            after_ok: vec!["7_1".into()],
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            array,
        }
    }

    #[test]
    fn batch_script_quotes_every_argument() {
        let script = batch_script(&submission(&["/bin/augflow", "it's", "a b"], vec![]));
        assert!(script.ends_with("exec '/bin/augflow' 'it'\\''s' 'a b'\n"));
    }

    #[test]
    fn an_array_runs_the_node_of_its_task_and_writes_that_nodes_log() {
        let task = |node: &str| ArrayTask {
            node: node.into(),
            argv: vec!["/bin/augflow".into(), "--node".into(), node.into()],
            log: PathBuf::from(format!("/p/logs/{node}.log")),
        };
        let array = submission(&[], vec![task("cell@i=1"), task("cell@i='2'")]);
        assert_eq!(
            batch_script(&array),
            "#!/bin/sh\n# Written by augflow: runs one pipeline node per array task.\n\
             case \"$SLURM_ARRAY_TASK_ID\" in\n\
             0) exec '/bin/augflow' '--node' 'cell@i=1' >'/p/logs/cell@i=1.log' 2>&1 ;;\n\
             1) exec '/bin/augflow' '--node' 'cell@i='\\''2'\\''' >'/p/logs/cell@i='\\''2'\\''.log' 2>&1 ;;\n\
             esac\necho \"augflow: no node for array task $SLURM_ARRAY_TASK_ID\" >&2\nexit 1\n"
        );
        let args = sbatch_args(&SlurmConfig::default(), &SlurmResources::default(), &array);
        assert_eq!(
            args,
            [
                "--parsable",
                "--job-name=augflow:cell",
                "--chdir=/p",
                "--array=0-1",
                "--output=/p/logs/cell@array_%A_%a.log",
                "--kill-on-invalid-dep=yes",
                "--dependency=afterok:7_1",
            ]
        );
        assert_eq!(array_task_id("41", 1), "41_1");
    }

    #[test]
    fn job_ids_and_states_parse() {
        assert_eq!(parse_job_id("42\n").unwrap(), "42");
        assert_eq!(parse_job_id("42;cluster\n").unwrap(), "42");
        assert!(parse_job_id("sbatch: error").is_err());
        let jobs = parse_squeue("4|CANCELLED|DependencyNeverSatisfied\n5|RUNNING|None\n");
        assert_eq!(jobs["4"].phase(), Phase::Failed);
        assert_eq!(jobs["5"].phase(), Phase::Running);
        assert_eq!(jobs["5"].reason, None);
        let pending = JobInfo {
            state: "PENDING".into(),
            reason: Some("Dependency".into()),
        };
        assert_eq!(pending.phase(), Phase::Queued);
    }
}
