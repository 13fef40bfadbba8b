//! Integration tests: the real binary on throwaway projects, asserting which nodes
//! re-executed after each edit (not only the final outputs).

mod bad_pipelines;
mod classify;
mod common;
mod concurrency;
mod crash;
mod data_kinds;
mod diffusion;
mod generate;
mod gpus;
mod incremental;
mod interrupt;
mod lineage;
mod matrix;
mod metrics;
mod metrics_rev;
mod model_check;
mod pipelines;
mod process_hygiene;
mod protocol;
mod quality;
mod reader_study;
mod remote;
mod remote_s3;
mod remote_trust;
mod report;
mod retries;
mod schema;
mod sd_tiny;
mod shared_store;
mod slurm;
mod store_integrity;
mod store_trust;
mod typed;
mod untrusted_paths;
mod watch;
