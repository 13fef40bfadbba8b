"""Writes pipelines/assets/sd-tiny/: a tiny Stable Diffusion v1.x folder in diffusers' layout
(what `StableDiffusionPipeline.save_pretrained` writes; safetensors, under 1 MB), and the
image diffusers' own pipeline samples from it, for stages/tests/sd_tiny.rs.

The parts are sd_reference.py's tiny ones (its tokenizer, text encoder, VAE and U-Net
configs; the U-Net's context widened to the text encoder's 32), every tensor filled with
its formula, and SD v1-4's scheduler config. Nothing is downloaded. The reference sample:
PROMPT, DDIM with STEPS steps, guidance 7.5, 16x16 px, starting from the formula latents
`unit_values("sd-tiny latents", 256)` as [1, 4, 8, 8]; run in float64 and float32, the
float64 image summarised in stages/tests/fixtures/sd/sd_tiny_sample.json.

Setup as in sd_reference.py, then:
    /work/venv/bin/python bench/reference/sd_tiny_folder.py
"""

import json
import os
import shutil

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

import sd_reference as ref

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDER = os.path.join(HERE, "..", "..", "pipelines", "assets", "sd-tiny")
FIXTURE = os.path.join(ref.OUT, "sd_tiny_sample.json")
PROMPT = "An x-ray image of the lung with viral pneumonia"
STEPS = 4
GUIDANCE = 7.5
SIZE = 16


def build():
    tokenizer = CLIPTokenizer.from_pretrained(os.path.join(ref.OUT, "tokenizer"))
    with open(os.path.join(ref.OUT, "text_encoder", "config.json")) as f:
        text_config = json.load(f)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_config)).eval()
    ref.fill(text_encoder)
    vae = AutoencoderKL.from_config(ref.TINY_VAE).eval()
    ref.fill(vae)
    unet = UNet2DConditionModel.from_config(dict(ref.TINY_UNET, cross_attention_dim=text_config["hidden_size"])).eval()
    ref.fill(unet)
    scheduler = PNDMScheduler.from_config(ref.SD14_SCHEDULER)
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def sample(pipe, dtype):
    pipe = pipe.to(dtype)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    latents = torch.from_numpy(ref.unit_values("sd-tiny latents", 256).astype(np.float32).reshape(1, 4, 8, 8))
    with torch.no_grad():
        image = pipe(
            PROMPT,
            height=SIZE,
            width=SIZE,
            num_inference_steps=STEPS,
            guidance_scale=GUIDANCE,
            latents=latents.to(dtype),
            output_type="np",
        ).images
    return np.asarray(image, dtype=np.float64)  # [1, H, W, 3] in [0, 1]


def main():
    torch.set_num_threads(2)
    pipe = build()
    if os.path.isdir(FOLDER):
        shutil.rmtree(FOLDER)
    pipe.save_pretrained(FOLDER, safe_serialization=True)
    # transformers 5 saves only a fast-tokenizer tokenizer.json; published SD folders (and
    # augflow's reader) have CLIP's vocab.json + merges.txt: use sd_reference.py's files.
    tokenizer_dir = os.path.join(FOLDER, "tokenizer")
    shutil.rmtree(tokenizer_dir)
    shutil.copytree(os.path.join(ref.OUT, "tokenizer"), tokenizer_dir)
    exact = sample(StableDiffusionPipeline.from_pretrained(FOLDER), torch.float64)
    single = sample(StableDiffusionPipeline.from_pretrained(FOLDER), torch.float32)
    worst = float(np.abs(exact - single).max())
    # Channels first, as the Rust side returns images.
    chw = exact[0].transpose(2, 0, 1)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(FOLDER) for f in fs)
    print(f"sd-tiny: {size} bytes; f32 vs f64 image {worst:.2e}")
    with open(FIXTURE, "w") as f:
        json.dump(
            {
                "prompt": PROMPT,
                "steps": STEPS,
                "guidance_scale": GUIDANCE,
                "size": SIZE,
                "f32_vs_f64": worst,
                "image": ref.summarise([chw])[0],
            },
            f,
            indent=1,
        )
        f.write("\n")


if __name__ == "__main__":
    main()
