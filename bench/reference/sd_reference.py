"""Reference outputs for augflow's Stable Diffusion v1.x port (stages/src/sd/).

Nothing is downloaded. The script writes, under stages/tests/fixtures/sd/:

- `tokenizer/`: a tiny CLIP tokenizer in the diffusers layout (`vocab.json`, `merges.txt`,
  `tokenizer_config.json`). Its vocabulary has CLIP's layout (the 256 byte symbols, the
  same with `</w>`, then one token per merge, then `<|startoftext|>`, `<|endoftext|>`);
  its merges are learnt here by plain BPE on a small corpus, so the files stay a few KB.
- `tokenizer_ids.json`: `transformers.CLIPTokenizer`'s input ids for PROMPTS, encoded as
  the SD pipelines do (`padding="max_length"`, `max_length=77`, `truncation=True`).
- `text_encoder/config.json` (a tiny CLIPTextModel over the tiny vocabulary) and
  `text_encoder.json`: with every tensor filled by the formula of `fill_value` (the
  splitmix64 stream of inception_reference.py), the float64 `last_hidden_state` of three
  prompts, summarised (mean, L2 norm, largest |value|, first 16 values of the first and
  the end-of-text positions), and a checksum of the fill.
- `sd-v1-4/text_encoder.tensors`: names and shapes of CLIPTextModel built (on the meta
  device, nothing allocated) from SD v1-4's `text_encoder/config.json` (named as published
  files name them, `text_model.` first), that config written out as
  `sd-v1-4/text_encoder/config.json` (CompVis/stable-diffusion-v1-4 as published).

Setup:
    python3 -m venv /work/venv
    /work/venv/bin/pip install torch diffusers transformers numpy regex
    /work/venv/bin/python bench/reference/sd_reference.py
"""

import collections
import json
import math
import os

import numpy as np
import regex
import torch
import transformers
import diffusers
from diffusers import AutoencoderKL, DDIMScheduler, PNDMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from formula_values import fill_state, unit_values

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "stages", "tests", "fixtures", "sd")
PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE)
# Fewer merges than the corpus allows, so words end in partial merges and ranks matter.
MERGES = 160

CLASSES = ["healthy", "bacterial pneumonia", "viral pneumonia", "covid-19", "fungal pneumonia"]
PROMPTS = [f"An x-ray image of the lung with {c}" for c in CLASSES[1:]] + [
    "An x-ray image of a healthy lung",
    "An X-Ray image of the LUNG with Viral Pneumonia",
    "a  chest\tradiograph,\n  posteroanterior   view",
    "it's the patient's 2nd scan; they'll re-check it (12/03/2021).",
    "",
    "   ",
    "lungs!!! ...and more??? #covid19 @radiology",
    "café naïve façade über straße",
    "肺部X光图像 with 日本語 text",
    "emoji 🫁 and symbols ±×÷ → ok",
    "don't we've I'm you're she'd we'll",
    "an x-ray image of the lung<|endoftext|>with a special token",
    "numbers 3.14159 and 1,000,000 and 42nd",
    "UPPERCASE ÉCOLE ÀÉÎÕÜ",
    " ".join(["long prompt words"] * 40),
    "A chest X-ray (PA view) at 512x512px, 16-bit",
]
# Text the merges are learnt from: the prompts' words dominate, so most of them become
# one or two tokens, as real words do in CLIP's vocabulary. Not the last two prompts (the
# long one would dominate; the last tests words the merges never saw).
CORPUS = " ".join(PROMPTS[:6] * 5 + PROMPTS[6:18] + ["the chest lung radiograph scan of a patient"] * 3)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def learn_merges(text, count):
    """Plain BPE: words as byte symbols with `</w>` on the last, most frequent pair first
    (ties: the pair first seen in sorted order, so the result is deterministic)."""
    table = bytes_to_unicode()
    words = collections.Counter(
        tuple("".join(table[b] for b in w.encode()))
        for w in PATTERN.findall(" ".join(text.lower().split()))
    )
    words = collections.Counter({w[:-1] + (w[-1] + "</w>",): n for w, n in words.items()})
    merges = []
    for _ in range(count):
        pairs = collections.Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        merged = collections.Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    return merges


def write_tokenizer(folder):
    os.makedirs(folder, exist_ok=True)
    table = bytes_to_unicode()
    symbols = list(table.values())
    vocab_list = symbols + [s + "</w>" for s in symbols]
    merges = learn_merges(CORPUS, MERGES)
    vocab_list += ["".join(m) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {}
    for token in vocab_list:
        vocab.setdefault(token, len(vocab))
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    # As in CompVis/stable-diffusion-v1-4's tokenizer/tokenizer_config.json.
    config = {
        "model_max_length": 77,
        "pad_token": "<|endoftext|>",
        "bos_token": {"content": "<|startoftext|>", "__type": "AddedToken"},
        "eos_token": {"content": "<|endoftext|>", "__type": "AddedToken"},
        "unk_token": {"content": "<|endoftext|>", "__type": "AddedToken"},
        "do_lower_case": True,
        "errors": "replace",
        "tokenizer_class": "CLIPTokenizer",
    }
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")
    return len(vocab), len(merges)


def tokenizer_reference():
    folder = os.path.join(OUT, "tokenizer")
    size, merges = write_tokenizer(folder)
    tokenizer = CLIPTokenizer.from_pretrained(folder)
    ids = tokenizer(PROMPTS, padding="max_length", max_length=tokenizer.model_max_length, truncation=True).input_ids
    print(f"tokenizer: vocab {size}, merges {merges}, {type(tokenizer).__name__}")
    for prompt, row in zip(PROMPTS[:3], ids):
        print(f"  {prompt!r}: {row[:12]}")
    with open(os.path.join(OUT, "tokenizer_ids.json"), "w", encoding="utf-8") as f:
        json.dump(
            {"transformers": transformers.__version__, "prompts": PROMPTS, "input_ids": ids},
            f,
            ensure_ascii=False,
        )
        f.write("\n")


def fill_value(name, shape):
    """The formula, float64 rounded once to float32 (bit-identical in Rust): weights of
    rank >= 2 uniform in +-sqrt(3 / fan_in) (unit variance out for unit variance in),
    except embeddings, uniform in [-1, 1); norm scales in [0.75, 1.25]; biases and norm
    shifts in [-0.1, 0.1]."""
    n = int(np.prod(shape))
    s = unit_values(name, n)
    leaf = name.rsplit(".", 1)[-1]
    if name.endswith("_embedding.weight"):
        v = s
    elif len(shape) >= 2:
        v = s * math.sqrt(3.0 / int(np.prod(shape[1:])))
    elif leaf == "weight":
        v = 1.0 + 0.25 * s
    elif leaf == "bias":
        v = 0.1 * s
    else:
        raise SystemExit(f"no formula for {name} {shape}")
    return v.astype(np.float32).reshape(shape)


def fill(module):
    """Fills every float tensor of module's state dict; returns the fill's checksum."""
    return fill_state(module.state_dict(), fill_value)


def summary(values):
    v = values.reshape(-1)
    return {"mean": float(v.mean()), "l2": float(np.linalg.norm(v)), "max_abs": float(np.abs(v).max())}


def write_config(folder, config):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")


def write_tensors(path, module, prefix=""):
    with open(path, "w") as f:
        for name, tensor in module.state_dict().items():
            f.write(f"{prefix}{name} {','.join(str(d) for d in tensor.shape)}\n")


# CompVis/stable-diffusion-v1-4 text_encoder/config.json as published.
SD14_TEXT = {
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "projection_dim": 768,
    "torch_dtype": "float32",
    "vocab_size": 49408,
}
TEXT_PROMPTS = [0, 1, 9]


def text_encoder_reference():
    tokenizer = CLIPTokenizer.from_pretrained(os.path.join(OUT, "tokenizer"))
    config = dict(SD14_TEXT, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer))
    write_config(os.path.join(OUT, "text_encoder"), config)
    model = CLIPTextModel(CLIPTextConfig(**config)).eval()
    checksum = fill(model)  # names without `text_model.`: the Rust side fills the same
    prompts = [PROMPTS[i] for i in TEXT_PROMPTS]
    ids = tokenizer(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    out = {}
    for dtype in (torch.float64, torch.float32):
        with torch.no_grad():
            out[dtype] = model.to(dtype)(ids).last_hidden_state.double().numpy()
    exact, single = out[torch.float64], out[torch.float32]
    worst = float(np.abs(exact - single).max() / np.abs(exact).max())
    rows = []
    for i, row in enumerate(ids.tolist()):
        end = row.index(tokenizer.eos_token_id)
        rows.append(dict(summary(exact[i]), eos=end, first16=[float(v) for v in exact[i, 0, :16]], eos16=[float(v) for v in exact[i, end, :16]]))
    print(f"text encoder: {checksum}, f32 vs f64 {worst:.2e}")
    with open(os.path.join(OUT, "text_encoder.json"), "w") as f:
        json.dump({"prompts": TEXT_PROMPTS, "fill": checksum, "f32_vs_f64": worst, "outputs": rows}, f, indent=1)
        f.write("\n")

    full = os.path.join(OUT, "sd-v1-4")
    write_config(os.path.join(full, "text_encoder"), SD14_TEXT)
    with torch.device("meta"):
        model = CLIPTextModel(CLIPTextConfig(**SD14_TEXT))
    # Published files (SD v1-4's included) name CLIPTextModel's tensors `text_model.…`;
    # transformers 5 drops that level from the module and strips the prefix on load.
    write_tensors(os.path.join(full, "text_encoder.tensors"), model, prefix="text_model.")


# CompVis/stable-diffusion-v1-4 scheduler/scheduler_config.json as published.
SD14_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.7.0.dev0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}
SAMPLE_SHAPE = (1, 4, 8, 8)


def fake_noise(sample, t):
    """A stand-in for the U-Net: smooth in the sample, different at every timestep."""
    return torch.tanh(sample) * (0.5 + t / 2000.0) + 0.1 * math.cos(t / 37.0)


def run_steps(scheduler, count):
    sample = torch.from_numpy(unit_values("sample", int(np.prod(SAMPLE_SHAPE))).astype(np.float32).reshape(SAMPLE_SHAPE))
    out = []
    for t in scheduler.timesteps[:count].tolist():
        sample = scheduler.step(fake_noise(sample, t), t, sample).prev_sample
        v = sample.double().numpy()
        out.append(dict(summary(v), timestep=t, first8=[float(x) for x in v.reshape(-1)[:8]]))
    return out


def scheduler_reference():
    folder = os.path.join(OUT, "sd-v1-4", "scheduler")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "scheduler_config.json"), "w") as f:
        json.dump(SD14_SCHEDULER, f, indent=1)
        f.write("\n")
    pndm = PNDMScheduler.from_pretrained(folder)
    ddim = DDIMScheduler.from_config(pndm.config)
    result = {"alphas_cumprod": {str(t): float(pndm.alphas_cumprod[t]) for t in (0, 1, 500, 998, 999)}}
    for steps in (50, 7):
        pndm.set_timesteps(steps)
        ddim.set_timesteps(steps)
        result[f"pndm_timesteps_{steps}"] = pndm.timesteps.tolist()
        result[f"ddim_timesteps_{steps}"] = ddim.timesteps.tolist()
    pndm.set_timesteps(50)
    ddim.set_timesteps(50)
    result["pndm_steps"] = run_steps(pndm, 6)
    result["ddim_steps"] = run_steps(ddim, 3)
    print(f"schedulers: pndm {result['pndm_timesteps_7']}, ddim {result['ddim_timesteps_7']}")
    with open(os.path.join(OUT, "schedulers.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


SD14_VAE = {
    "_class_name": "AutoencoderKL",
    "_diffusers_version": "0.2.2",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "out_channels": 3,
    "sample_size": 512,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
SD14_UNET = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.2.2",
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
TINY_VAE = dict(SD14_VAE, block_out_channels=[8, 16], down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2, layers_per_block=1, norm_num_groups=4, sample_size=16)
TINY_UNET = dict(
    SD14_UNET,
    attention_head_dim=2,
    block_out_channels=[8, 16, 16],
    cross_attention_dim=12,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    norm_num_groups=4,
    sample_size=8,
)
TIMESTEPS = [1, 500, 981]


def formula_input(name, shape):
    return torch.from_numpy(unit_values(name, int(np.prod(shape))).astype(np.float32).reshape(shape))


def run_both(fn):
    """fn(dtype) -> dict of arrays, in float64 and float32; float64 results and the
    worst relative float32 difference."""
    exact, single = fn(torch.float64), fn(torch.float32)
    worst = max(float(np.abs(exact[k] - single[k]).max() / np.abs(exact[k]).max()) for k in exact)
    return exact, worst


def summarise(values):
    return [dict(summary(v), first16=[float(x) for x in v.reshape(-1)[:16]]) for v in values]


def vae_reference():
    write_config(os.path.join(OUT, "vae"), TINY_VAE)
    model = AutoencoderKL.from_config(TINY_VAE).eval()
    checksum = fill(model)
    images = formula_input("images", (2, 3, 16, 16))

    def run(dtype):
        m = model.to(dtype)
        with torch.no_grad():
            dist = m.encode(images.to(dtype)).latent_dist
            decoded = m.decode(dist.mean).sample
        return {k: v.double().numpy() for k, v in (("mean", dist.mean), ("logvar", dist.logvar), ("decoded", decoded))}

    exact, worst = run_both(run)
    print(f"vae: {checksum}, f32 vs f64 {worst:.2e}")
    with open(os.path.join(OUT, "vae.json"), "w") as f:
        json.dump({"fill": checksum, "f32_vs_f64": worst, **{k: summarise(v) for k, v in exact.items()}}, f, indent=1)
        f.write("\n")


def unet_reference():
    write_config(os.path.join(OUT, "unet"), TINY_UNET)
    model = UNet2DConditionModel.from_config(TINY_UNET).eval()
    checksum = fill(model)
    latents = formula_input("latents", (3, 4, 8, 8))
    context = formula_input("context", (3, 7, 12))

    def run(dtype):
        m = model.to(dtype)
        with torch.no_grad():
            noise = m(latents.to(dtype), torch.tensor(TIMESTEPS), context.to(dtype)).sample
        return {"noise": noise.double().numpy()}

    exact, worst = run_both(run)
    print(f"unet: {checksum}, f32 vs f64 {worst:.2e}")
    with open(os.path.join(OUT, "unet.json"), "w") as f:
        json.dump({"fill": checksum, "f32_vs_f64": worst, "timesteps": TIMESTEPS, "noise": summarise(exact["noise"])}, f, indent=1)
        f.write("\n")


def full_size_lists():
    full = os.path.join(OUT, "sd-v1-4")
    for name, cls, config in (("vae", AutoencoderKL, SD14_VAE), ("unet", UNet2DConditionModel, SD14_UNET)):
        write_config(os.path.join(full, name), config)
        with torch.device("meta"):
            model = cls.from_config(config)
        write_tensors(os.path.join(full, f"{name}.tensors"), model)


def main():
    os.makedirs(OUT, exist_ok=True)
    print(f"torch {torch.__version__} transformers {transformers.__version__} diffusers {diffusers.__version__}")
    tokenizer_reference()
    text_encoder_reference()
    scheduler_reference()
    vae_reference()
    unet_reference()
    full_size_lists()


if __name__ == "__main__":
    main()
