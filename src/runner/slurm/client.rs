//! The seam between the executor and Slurm: submit, query, cancel. The executor speaks
//! only to a [`SlurmClient`]; [`SlurmCommands`] runs the real `sbatch`, `squeue` and
//! `scancel`, and the unit tests drive the same state machine with an in-memory cluster.

use std::collections::BTreeMap;

use super::commands::{self, JobInfo, SlurmError, Submission};
use crate::project::{SlurmConfig, SlurmResources};

pub trait SlurmClient {
    /// Submits one job; returns its id.
    fn submit(
        &self,
        resources: &SlurmResources,
        submission: &Submission,
    ) -> Result<String, SlurmError>;

    /// States of the given jobs; jobs the cluster no longer knows are absent.
    fn query(&self, ids: &[String]) -> Result<BTreeMap<String, JobInfo>, SlurmError>;

    /// Cancels jobs; unknown or finished ones are ignored.
    fn cancel(&self, ids: &[String]) -> Result<(), SlurmError>;
}

/// The Slurm client commands on `PATH`, with the project's `[executor.slurm]` settings.
pub struct SlurmCommands<'c> {
    pub config: &'c SlurmConfig,
}

impl SlurmClient for SlurmCommands<'_> {
    fn submit(
        &self,
        resources: &SlurmResources,
        submission: &Submission,
    ) -> Result<String, SlurmError> {
        commands::submit(self.config, resources, submission)
    }

    fn query(&self, ids: &[String]) -> Result<BTreeMap<String, JobInfo>, SlurmError> {
        commands::query(ids)
    }

    fn cancel(&self, ids: &[String]) -> Result<(), SlurmError> {
        commands::cancel(ids)
    }
}
