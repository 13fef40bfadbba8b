//! A stage's `resources:` as `sbatch` arguments. `[executor.slurm.resources]` in
//! augflow.toml still wins: what the cluster's admin or user wrote there is kept.

use crate::kinds::BackendRequest;
use crate::project::SlurmResources;
use crate::spec::Resources;

/// Fills the unset `gres` and `mem` of `config` from the stage's declaration. A typed kind
/// that computes on the device asks for one GPU when the backend is explicitly a GPU one
/// (`auto` cannot be resolved here: the submitting machine is not the compute node).
pub fn overlay_declared(
    config: &mut SlurmResources,
    declared: Resources,
    uses_device: bool,
    backend: BackendRequest,
) {
    let gpus = declared.gpus.unwrap_or(u32::from(
        uses_device && matches!(backend, BackendRequest::Cuda | BackendRequest::Wgpu),
    ));
    if config.gres.is_none() && gpus > 0 {
        config.gres = Some(format!("gpu:{gpus}"));
    }
    if let (None, Some(gb)) = (&config.mem, declared.memory_gb) {
        config.mem = Some(format!("{gb}G"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(gpus: Option<u32>, memory_gb: Option<u32>) -> Resources {
        Resources { gpus, memory_gb }
    }

    #[test]
    fn declaration_becomes_gres_and_mem() {
        let mut config = SlurmResources::default();
        overlay_declared(
            &mut config,
            declared(Some(2), Some(24)),
            false,
            BackendRequest::Auto,
        );
        assert_eq!(config.gres.as_deref(), Some("gpu:2"));
        assert_eq!(config.mem.as_deref(), Some("24G"));
    }

    #[test]
    fn config_overrides_the_declaration() {
        let mut config = SlurmResources {
            gres: Some("gpu:a100:1".into()),
            mem: Some("8G".into()),
            ..SlurmResources::default()
        };
        overlay_declared(
            &mut config,
            declared(Some(4), Some(64)),
            true,
            BackendRequest::Cuda,
        );
        assert_eq!(config.gres.as_deref(), Some("gpu:a100:1"));
        assert_eq!(config.mem.as_deref(), Some("8G"));
    }

    #[test]
    fn ml_kinds_default_to_one_gpu_on_an_explicit_gpu_backend() {
        for (backend, uses_device, want) in [
            (BackendRequest::Cuda, true, Some("gpu:1")),
            (BackendRequest::Wgpu, true, Some("gpu:1")),
            (BackendRequest::Auto, true, None),
            (BackendRequest::Cpu, true, None),
            (BackendRequest::Cuda, false, None),
        ] {
            let mut config = SlurmResources::default();
            overlay_declared(&mut config, Resources::default(), uses_device, backend);
            assert_eq!(config.gres.as_deref(), want, "{backend:?} {uses_device}");
        }
        let mut config = SlurmResources::default();
        overlay_declared(
            &mut config,
            declared(Some(0), None),
            true,
            BackendRequest::Cuda,
        );
        assert_eq!(config.gres, None, "an explicit 0 wins over the default");
    }
}
