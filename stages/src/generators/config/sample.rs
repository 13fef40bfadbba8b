//! Config of `sample`: N images per class from a trained generator of any family.

use serde::{Deserialize, Serialize};

use crate::StageError;

/// How `sample` draws from a diffusion model.
#[derive(
    Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    /// Ancestral sampling over all T steps (Ho et al. 2020), or over `steps` respaced as
    /// diffusers' `DDPMScheduler.set_timesteps(steps)` (the study used 250).
    Ddpm,
    /// Deterministic DDIM (η = 0) over `steps` evenly spaced steps (Song et al. 2021).
    #[default]
    Ddim,
    /// PNDM's pseudo linear multistep (PLMS) steps: Stable Diffusion only, where it is
    /// the default (SD v1-4's scheduler).
    Pndm,
}

/// The families of generators `sample` draws from; each takes its own params.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneratorFamily {
    Gan,
    /// A per-class pixel DDPM.
    Ddpm,
    /// A latent diffusion model (base, fine-tune, DreamBooth, merged LoRA).
    Latent,
    /// A `train.lora` generator: adapters over its base.
    LatentLora,
    /// An imported Stable Diffusion or its fine-tune or DreamBooth.
    StableDiffusion,
    /// A `train.sd_lora` generator: Stable Diffusion with LoRA adapters.
    StableDiffusionLora,
}

impl GeneratorFamily {
    pub fn describe(self) -> &'static str {
        match self {
            GeneratorFamily::Gan => "a GAN",
            GeneratorFamily::Ddpm => "a pixel DDPM",
            GeneratorFamily::Latent => "a latent diffusion generator without LoRA adapters",
            GeneratorFamily::LatentLora => "a LoRA generator",
            GeneratorFamily::StableDiffusion => "a Stable Diffusion generator without LoRA",
            GeneratorFamily::StableDiffusionLora => "a Stable Diffusion LoRA generator",
        }
    }

    fn is_stable_diffusion(self) -> bool {
        matches!(self, Self::StableDiffusion | Self::StableDiffusionLora)
    }

    /// Latent diffusion of either kind: prompts and guidance apply.
    fn is_prompted(self) -> bool {
        !matches!(self, Self::Gan | Self::Ddpm)
    }
}

/// Config of `sample`: N images per class from a trained generator.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleConfig {
    /// Images per class.
    pub n: usize,
    /// Classes to sample; default: every class the generator has.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    #[serde(default = "default_sample_batch")]
    pub batch_size: usize,
    /// Diffusion models only (default `ddim`; `pndm` for Stable Diffusion, which takes
    /// `ddim` or `pndm`).
    #[serde(default)]
    pub sampler: Option<Sampler>,
    /// Diffusion models only: DDIM steps (default 50), or DDPM steps (default T, every
    /// step; fewer respace the schedule as diffusers does).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Latent diffusion only: the prompt (`{class}` stands for the class name) instead of
    /// the generator's own prompt of each class.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Latent diffusion only: the classifier-free guidance scale (default 3, 7.5 for
    /// Stable Diffusion; 1 = the conditional prediction alone).
    #[serde(default)]
    pub guidance: Option<f64>,
    /// LoRA generators only: the adapters' scale (default 1; 0 = the base model).
    #[serde(default)]
    pub lora_scale: Option<f64>,
    /// GANs only: the truncation ψ in 0..=1 (default 1, none). Each image's w is pulled
    /// towards its class's mean w: w_c + ψ·(w − w_c), as StyleGAN-XL's class-wise
    /// truncation; lower ψ trades variety for typical images of the class.
    #[serde(default)]
    pub truncation: Option<f64>,
    /// Params for GANs only (e.g. `gan: {truncation: 0.7}` in a stage that also draws
    /// from diffusion models).
    #[serde(default)]
    pub gan: Option<FamilyParams>,
    /// Params for pixel DDPMs only, so one `sample` stage can draw from a matrix of
    /// generators of different families (e.g. `ddpm: {sampler: ddpm, steps: 250}`).
    #[serde(default)]
    pub ddpm: Option<FamilyParams>,
    /// Params for latent diffusion generators only.
    #[serde(default)]
    pub latent: Option<FamilyParams>,
}

/// The params of `sample` that apply to some generator families only.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyParams {
    #[serde(default)]
    pub sampler: Option<Sampler>,
    #[serde(default)]
    pub steps: Option<usize>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub guidance: Option<f64>,
    #[serde(default)]
    pub lora_scale: Option<f64>,
    #[serde(default)]
    pub truncation: Option<f64>,
}

fn default_sample_batch() -> usize {
    32
}
const DEFAULT_DDIM_STEPS: usize = 50;

impl Sampler {
    pub fn as_str(self) -> &'static str {
        match self {
            Sampler::Ddpm => "ddpm",
            Sampler::Ddim => "ddim",
            Sampler::Pndm => "pndm",
        }
    }
}

impl SampleConfig {
    /// `n` images per class with every other param at its default.
    pub fn new(n: usize) -> Self {
        Self {
            n,
            classes: None,
            batch_size: default_sample_batch(),
            sampler: None,
            steps: None,
            prompt: None,
            guidance: None,
            lora_scale: None,
            truncation: None,
            gan: None,
            ddpm: None,
            latent: None,
        }
    }

    pub fn sampler(&self) -> Sampler {
        self.sampler.unwrap_or_default()
    }

    /// The sampling steps over a `timesteps`-step diffusion: `steps`, or the sampler's
    /// default. DDPM refuses more steps than T, as diffusers does.
    pub fn steps_for(&self, timesteps: usize) -> Result<usize, StageError> {
        match (self.sampler(), self.steps) {
            (Sampler::Ddim | Sampler::Pndm, steps) => Ok(steps.unwrap_or(DEFAULT_DDIM_STEPS)),
            (Sampler::Ddpm, None) => Ok(timesteps),
            (Sampler::Ddpm, Some(steps)) if steps <= timesteps => Ok(steps),
            (Sampler::Ddpm, Some(steps)) => Err(StageError::InvalidConfig(format!(
                "steps {steps} is more than the generator's {timesteps} diffusion steps; \
                 DDPM sampling can only skip steps"
            ))),
        }
    }

    /// The config a generator of `family` draws with: the common params plus the
    /// family's own section (`gan`, `ddpm` or `latent`). A param given in both is an error.
    pub fn for_family(&self, family: GeneratorFamily) -> Result<SampleConfig, StageError> {
        self.merged(family)
            .map_err(|(_, why)| StageError::InvalidConfig(why))
    }

    fn merged(&self, family: GeneratorFamily) -> Result<SampleConfig, (&'static str, String)> {
        let section = match family {
            GeneratorFamily::Gan => self.gan.as_ref(),
            GeneratorFamily::Ddpm => self.ddpm.as_ref(),
            GeneratorFamily::Latent
            | GeneratorFamily::LatentLora
            | GeneratorFamily::StableDiffusion
            | GeneratorFamily::StableDiffusionLora => self.latent.as_ref(),
        };
        let mut out = SampleConfig {
            gan: None,
            ddpm: None,
            latent: None,
            ..self.clone()
        };
        let Some(section) = section else {
            return Ok(out);
        };
        fn merge<T: Clone>(
            name: &'static str,
            common: &mut Option<T>,
            own: &Option<T>,
        ) -> Result<(), (&'static str, String)> {
            match (common.is_some(), own) {
                (true, Some(_)) => Err((
                    name,
                    format!(
                        "`{name}` is given both for every generator and in a family section; \
                         give it once"
                    ),
                )),
                (_, Some(value)) => {
                    *common = Some(value.clone());
                    Ok(())
                }
                (_, None) => Ok(()),
            }
        }
        merge("sampler", &mut out.sampler, &section.sampler)?;
        merge("steps", &mut out.steps, &section.steps)?;
        merge("prompt", &mut out.prompt, &section.prompt)?;
        merge("guidance", &mut out.guidance, &section.guidance)?;
        merge("lora_scale", &mut out.lora_scale, &section.lora_scale)?;
        merge("truncation", &mut out.truncation, &section.truncation)?;
        Ok(out)
    }

    /// Checks what can be checked without the generator: a family section holds only
    /// params of that family.
    fn check_sections(&self) -> Result<(), StageError> {
        let sections = [
            ("gan", &self.gan, GeneratorFamily::Gan),
            ("ddpm", &self.ddpm, GeneratorFamily::Ddpm),
            ("latent", &self.latent, GeneratorFamily::LatentLora),
        ];
        for (name, section, family) in sections {
            let Some(section) = section else { continue };
            let probe = SampleConfig {
                sampler: section.sampler,
                steps: section.steps,
                prompt: section.prompt.clone(),
                guidance: section.guidance,
                lora_scale: section.lora_scale,
                truncation: section.truncation,
                gan: None,
                ddpm: None,
                latent: None,
                ..self.clone()
            };
            if let Some((_, why)) = probe.misapplied(family) {
                return Err(StageError::InvalidConfig(format!("in `{name}`: {why}")));
            }
            if section.steps == Some(0) {
                return Err(StageError::InvalidConfig(format!(
                    "in `{name}`: steps must be positive"
                )));
            }
            if let Some(guidance) = section.guidance {
                crate::generators::latent::config::check_guidance(guidance)?;
            }
            check_truncation(section.truncation)?;
        }
        Ok(())
    }

    /// The first param that does not apply to `family`, with why: such a param is an
    /// error, never silently ignored. Family sections are merged in first.
    pub fn misapplied(&self, family: GeneratorFamily) -> Option<(&'static str, String)> {
        if self.gan.is_some() || self.ddpm.is_some() || self.latent.is_some() {
            return match self.merged(family) {
                Ok(merged) => merged.misapplied(family),
                Err(conflict) => Some(conflict),
            };
        }
        let lora = matches!(
            family,
            GeneratorFamily::LatentLora | GeneratorFamily::StableDiffusionLora
        );
        let sd = family.is_stable_diffusion();
        let set: [(&'static str, bool, bool); 8] = [
            // (param, given, applies)
            (
                "sampler",
                self.sampler.is_some(),
                family != GeneratorFamily::Gan,
            ),
            ("sampler", self.sampler == Some(Sampler::Pndm), sd),
            ("sampler", self.sampler == Some(Sampler::Ddpm), !sd),
            (
                "steps",
                self.steps.is_some(),
                family != GeneratorFamily::Gan,
            ),
            ("prompt", self.prompt.is_some(), family.is_prompted()),
            ("guidance", self.guidance.is_some(), family.is_prompted()),
            ("lora_scale", self.lora_scale.is_some(), lora),
            (
                "truncation",
                self.truncation.is_some(),
                family == GeneratorFamily::Gan,
            ),
        ];
        set.into_iter()
            .find(|(_, given, applies)| *given && !applies)
            .map(|(name, _, _)| {
                (
                    name,
                    match (name, self.sampler) {
                        ("sampler", Some(sampler)) if family != GeneratorFamily::Gan => format!(
                            "`sampler: {}` does not apply to {}; use {}",
                            sampler.as_str(),
                            family.describe(),
                            if sd { "ddim or pndm" } else { "ddim or ddpm" }
                        ),
                        _ => format!(
                            "`{name}` does not apply to {}; remove it",
                            family.describe()
                        ),
                    },
                )
            })
    }

    pub fn validate(&self) -> Result<(), StageError> {
        if self.n == 0 || self.n > 100_000 {
            return Err(StageError::InvalidConfig(format!(
                "n {} is outside 1..=100000",
                self.n
            )));
        }
        if self.batch_size == 0 || self.steps == Some(0) {
            return Err(StageError::InvalidConfig(format!(
                "batch_size {} and steps {} must be positive",
                self.batch_size,
                self.steps.unwrap_or(DEFAULT_DDIM_STEPS)
            )));
        }
        if let Some(guidance) = self.guidance {
            crate::generators::latent::config::check_guidance(guidance)?;
        }
        check_truncation(self.truncation)?;
        self.check_sections()?;
        if let Some(scale) = self.lora_scale
            && !(scale.is_finite() && (0.0..=10.0).contains(&scale))
        {
            return Err(StageError::InvalidConfig(format!(
                "lora_scale {scale} is outside 0..=10"
            )));
        }
        Ok(())
    }
}

fn check_truncation(truncation: Option<f64>) -> Result<(), StageError> {
    match truncation {
        Some(psi) if !(psi.is_finite() && (0.0..=1.0).contains(&psi)) => Err(
            StageError::InvalidConfig(format!("truncation {psi} is outside 0..=1")),
        ),
        _ => Ok(()),
    }
}
