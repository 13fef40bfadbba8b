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
mod incremental;
mod matrix;
mod model_check;
mod pipelines;
mod protocol;
mod quality;
mod reader_study;
mod remote;
mod remote_s3;
mod report;
mod slurm;
mod store_integrity;
mod typed;
