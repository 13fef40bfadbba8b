//! GPUs as a scheduled resource: which GPUs a run may use, how many nodes may share one,
//! how many a node asks for, and which ones it was given.

use std::collections::BTreeMap;

use super::engine::Engine;
pub use super::engine::GpuSettings;
use crate::spec::{Action, NodeSpec};

/// Where and how often one node runs: handed from the scheduler to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// GPU ids the node is pinned to (empty: none).
    pub gpus: Vec<u32>,
    /// 1 for the first attempt.
    pub attempt: u32,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            gpus: Vec::new(),
            attempt: 1,
        }
    }
}

impl Placement {
    /// `0,1`: the value of `CUDA_VISIBLE_DEVICES` and `AUGFLOW_GPU`, and of the entry's
    /// `gpu` field.
    pub fn gpu_list(&self) -> String {
        let ids: Vec<String> = self.gpus.iter().map(u32::to_string).collect();
        ids.join(",")
    }
}

/// Free slots per GPU. A node asking for N GPUs gets N distinct GPUs, one slot on each.
#[derive(Debug, Clone)]
pub struct GpuPool {
    /// GPU id → free slots, in id order.
    free: BTreeMap<u32, usize>,
}

impl GpuPool {
    pub fn new(ids: &[u32], share: usize) -> GpuPool {
        GpuPool {
            free: ids.iter().map(|&id| (id, share.max(1))).collect(),
        }
    }

    /// How many GPUs the pool has (busy or not).
    pub fn len(&self) -> usize {
        self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }

    /// `n` distinct GPUs with a free slot, least loaded first (then lowest id), or `None`
    /// when not enough are free now.
    pub fn take(&mut self, n: usize) -> Option<Vec<u32>> {
        if n == 0 {
            return Some(Vec::new());
        }
        let mut candidates: Vec<(u32, usize)> = self
            .free
            .iter()
            .filter(|(_, free)| **free > 0)
            .map(|(&id, &free)| (id, free))
            .collect();
        if candidates.len() < n {
            return None;
        }
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut chosen: Vec<u32> = candidates[..n].iter().map(|(id, _)| *id).collect();
        chosen.sort_unstable();
        for id in &chosen {
            if let Some(free) = self.free.get_mut(id) {
                *free -= 1;
            }
        }
        Some(chosen)
    }

    pub fn give_back(&mut self, ids: &[u32]) {
        for id in ids {
            if let Some(free) = self.free.get_mut(id) {
                *free += 1;
            }
        }
    }
}

/// Parses `--gpus 0,1,3`.
pub fn parse_gpu_list(text: &str) -> Result<Vec<u32>, String> {
    let mut ids = Vec::new();
    for part in text.split(',').map(str::trim) {
        let id = part
            .parse::<u32>()
            .map_err(|_| format!("use GPU ids like `0,1,3`, not `{part}` in `{text}`"))?;
        if ids.contains(&id) {
            return Err(format!("name GPU {id} once in `{text}`"));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// The GPUs of this machine: CUDA's devices when the driver answers, else the hardware
/// wgpu adapters, else none.
pub fn detect_gpus() -> Vec<u32> {
    use augflow_stages::backend::{cuda_devices, wgpu_adapters};
    let count = match cuda_devices() {
        Ok(devices) => devices.len(),
        Err(reason) => {
            tracing::debug!("GPU detection: {reason}; counting hardware wgpu adapters");
            wgpu_adapters().iter().filter(|a| !a.is_software).count()
        }
    };
    (0..u32::try_from(count).unwrap_or(0)).collect()
}

/// How many GPUs a node asks for: its stage's `resources.gpus`, else one for a kind that
/// computes on the device when ML runs on a GPU (`ml_on_gpu`), else none.
pub fn gpus_wanted(
    engine: &Engine<'_>,
    node: &NodeSpec,
    ml_on_gpu: impl FnOnce() -> bool,
) -> usize {
    if let Some(gpus) = node.resources.gpus {
        return gpus as usize;
    }
    usize::from(uses_device(engine, node) && ml_on_gpu())
}

/// Whether the node's kind computes on the `--backend` device.
pub fn uses_device(engine: &Engine<'_>, node: &NodeSpec) -> bool {
    match &node.action {
        Action::Typed(_) => engine
            .graph
            .typed(node)
            .is_some_and(|typed| typed.kind.spec().uses_device),
        Action::Shell(_) => false,
    }
}

/// The scheduler's view of GPUs for one run, resolved lazily: a run whose nodes want no
/// GPU never probes the driver or the wgpu adapters.
#[derive(Default)]
pub struct GpuState {
    pool: Option<GpuPool>,
    ml_on_gpu: Option<bool>,
    wanted: std::collections::HashMap<petgraph::graph::NodeIndex, usize>,
}

/// What the scheduler may do with a ready node now.
pub enum Fit {
    /// Run it on these GPUs (none for a CPU node).
    Run(Vec<u32>),
    /// Its GPUs are busy: try another node.
    Wait,
    /// It wants more GPUs than the run has: fail it with this message.
    Never(String),
}

impl GpuState {
    pub fn fit(&mut self, engine: &Engine<'_>, index: petgraph::graph::NodeIndex) -> Fit {
        let wanted = self.wanted(engine, index);
        if wanted == 0 {
            return Fit::Run(Vec::new());
        }
        let pool = self.pool(engine);
        if wanted > pool.len() {
            return Fit::Never(format!(
                "start: it needs {wanted} GPU(s) and this run has {} ({})",
                pool.len(),
                match &engine.gpus.ids {
                    Some(_) => "from --gpus",
                    None => "detected; pass --gpus to name them",
                }
            ));
        }
        match pool.take(wanted) {
            Some(gpus) => Fit::Run(gpus),
            None => Fit::Wait,
        }
    }

    pub fn give_back(&mut self, gpus: &[u32]) {
        if let Some(pool) = self.pool.as_mut() {
            pool.give_back(gpus);
        }
    }

    fn wanted(&mut self, engine: &Engine<'_>, index: petgraph::graph::NodeIndex) -> usize {
        if let Some(&wanted) = self.wanted.get(&index) {
            return wanted;
        }
        let node = engine.graph.node(index);
        let wanted = gpus_wanted(engine, node, || {
            let on_gpu = *self
                .ml_on_gpu
                .get_or_insert_with(|| engine.backend.is_gpu());
            on_gpu && !self.pool(engine).is_empty()
        });
        self.wanted.insert(index, wanted);
        wanted
    }

    fn pool(&mut self, engine: &Engine<'_>) -> &mut GpuPool {
        self.pool.get_or_insert_with(|| {
            let ids = engine.gpus.ids.clone().unwrap_or_else(detect_gpus);
            tracing::debug!(?ids, share = engine.gpus.share, "GPUs of this run");
            GpuPool::new(&ids, engine.gpus.share)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four one-GPU nodes on two fake GPUs: two run, the other two wait until a GPU is
    /// given back, and no GPU ever carries two nodes.
    #[test]
    fn never_two_nodes_on_one_gpu() {
        let mut pool = GpuPool::new(&[0, 1], 1);
        let mut load: BTreeMap<u32, usize> = BTreeMap::new();
        let mut running: Vec<Vec<u32>> = Vec::new();
        let mut waiting = 4;
        let mut finished = 0;
        while finished < 4 {
            while waiting > 0 {
                let Some(gpus) = pool.take(1) else { break };
                for id in &gpus {
                    *load.entry(*id).or_default() += 1;
                    assert!(load[id] <= 1, "GPU {id} carries {} nodes", load[id]);
                }
                running.push(gpus);
                waiting -= 1;
            }
            assert!(running.len() <= 2, "{running:?}");
            let done = running.remove(0);
            for id in &done {
                *load.entry(*id).or_default() -= 1;
            }
            pool.give_back(&done);
            finished += 1;
        }
        assert_eq!(waiting, 0);
    }

    #[test]
    fn share_allows_that_many_per_gpu_and_spreads_first() {
        let mut pool = GpuPool::new(&[0, 1], 2);
        assert_eq!(pool.take(1), Some(vec![0]));
        assert_eq!(pool.take(1), Some(vec![1]), "least loaded first");
        assert_eq!(pool.take(1), Some(vec![0]));
        assert_eq!(pool.take(1), Some(vec![1]));
        assert_eq!(pool.take(1), None);
        pool.give_back(&[1]);
        assert_eq!(pool.take(2), None, "two distinct GPUs are not free");
        assert_eq!(pool.take(1), Some(vec![1]));
    }

    #[test]
    fn multi_gpu_nodes_get_distinct_gpus() {
        let mut pool = GpuPool::new(&[3, 0, 1], 1);
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.take(2), Some(vec![0, 1]));
        assert_eq!(pool.take(2), None);
        assert_eq!(pool.take(1), Some(vec![3]));
        assert_eq!(pool.take(0), Some(vec![]));
    }

    #[test]
    fn parses_gpu_lists() {
        assert_eq!(parse_gpu_list("0,1,3"), Ok(vec![0, 1, 3]));
        assert_eq!(parse_gpu_list(" 2 "), Ok(vec![2]));
        assert!(parse_gpu_list("0,x").unwrap_err().contains("`x`"));
        assert!(parse_gpu_list("1,1").unwrap_err().contains("GPU 1 once"));
        assert!(parse_gpu_list("").is_err());
    }
}
