//! CPU threads per worker. The CPU backend runs each tensor op on rayon's global pool; two
//! nodes at `-j 2` on two cores then hand every small op back and forth between the same
//! two threads (issue 16.1: about 15 % of a classifier step went to waking and parking
//! workers, and one training kept only 1.14 of 2 cores busy). With more than one worker,
//! each worker gets its own pool of `cores / jobs` threads, so side-by-side nodes each own
//! their share of the cores instead of fighting over all of them.

/// Set to `shared` to keep every worker on rayon's global pool (the A/B in
/// docs/benchmarks.md).
pub const POOL_ENV: &str = "AUGFLOW_WORKER_POOL";

/// Threads each of `jobs` workers gets on a machine with `cores` cores, or `None` to use
/// the global pool (one worker, or the override).
pub fn threads_per_worker(jobs: usize, cores: usize, shared: bool) -> Option<usize> {
    (jobs > 1 && !shared).then(|| (cores / jobs).max(1))
}

/// Runs `work` on its own pool of `threads_per_worker` threads when that applies, else on
/// the calling thread (rayon's global pool).
pub fn run_in_worker_pool(jobs: usize, work: impl FnOnce() + Send) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shared = std::env::var(POOL_ENV).is_ok_and(|value| value == "shared");
    let Some(threads) = threads_per_worker(jobs, cores, shared) else {
        return work();
    };
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("augflow-worker-pool-{i}"))
        .build()
    {
        Ok(pool) => pool.install(work),
        Err(err) => {
            // A pool that cannot start costs speed only: run on the global pool.
            tracing::warn!(%err, "could not start a worker thread pool; using the shared one");
            work()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_split_the_cores_and_one_worker_keeps_the_global_pool() {
        assert_eq!(threads_per_worker(1, 8, false), None);
        assert_eq!(threads_per_worker(2, 2, false), Some(1));
        assert_eq!(threads_per_worker(2, 16, false), Some(8));
        assert_eq!(threads_per_worker(3, 16, false), Some(5));
        assert_eq!(threads_per_worker(8, 2, false), Some(1));
        assert_eq!(threads_per_worker(2, 2, true), None);
    }

    #[test]
    fn work_runs_on_a_pool_of_its_share() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut seen = 0;
        run_in_worker_pool(cores.max(2), || seen = rayon::current_num_threads());
        assert_eq!(seen, 1);
    }
}
