"""Reference outputs for augflow's ImageNet-pretrained classifiers (stages/src/classifiers/).

Builds each of the study's five timm models with its full published config (3 input
channels, 1000 classes; `pretrained=False`, nothing is downloaded) and fills every float
tensor of its state dict with a formula of the tensor's name and element index: the
splitmix64 stream of bench/reference/inception_reference.py, scaled per tensor role
(`fill_value` below; the same formula is in stages/tests/timm_pretrained.rs). The filled
3-channel stem is then adapted to one input channel with timm's own `adapt_input_conv`,
as augflow's loader does for grayscale X-rays, and two formula-defined grayscale images
(one batch) go through the model in eval mode, in float64.

It writes what the Rust test pins, under stages/tests/fixtures/timm/:

- `<model>.tensors`: every state-dict entry as published (name, dtype, shape), head and
  `num_batches_tracked` included; the test writes a timm-named safetensors file with
  exactly these entries and loads it through augflow's loader;
- `reference.json`: per model, a checksum of the fill (tensor count, element count, sum of
  the f32 bit patterns), and per image the mean, L2 norm, largest |value| and first 16
  values of the pooled features (timm's `forward_head(..., pre_logits=True)`) and of the
  1000 logits; and the largest float32-vs-float64 difference, which sizes the tolerance.

Setup (CPU or CUDA torch wheels both do; everything runs on the CPU):
    python3 -m venv /work/venv
    /work/venv/bin/pip install torch timm numpy
    /work/venv/bin/python bench/reference/timm_reference.py
"""

import json
import math
import os
import sys

import numpy as np
import timm
import torch
from timm.models import adapt_input_conv

from formula_values import crossed_sines, fill_state, unit_values

MODELS = ["resnet50", "efficientnet_b0", "efficientnet_b1", "convnext_tiny", "convnext_small"]
# Height x width of the two images: non-square, so a transposed kernel or axis shows.
HEIGHT, WIDTH = 64, 80
IMAGES = [(0.21, 0.13, 0.17), (0.05, 0.41, 0.09)]
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "stages", "tests", "fixtures", "timm")


def fill_value(name, shape):
    """The formula, in float64 and rounded once to float32 (bit-identical in Rust).

    Weights of rank >= 2 are He-uniform for their fan-in; norm scales lie in [0.75, 1.25],
    variances in [0.5, 1.5], shifts, means and biases in [-0.1, 0.1]; ConvNeXt's layer
    scale `gamma` in [0.25, 0.75] (not timm's 1e-6 init, so every block counts)."""
    n = int(np.prod(shape)) if len(shape) else 1
    s = unit_values(name, n)
    leaf = name.rsplit(".", 1)[-1]
    if len(shape) >= 2:
        v = s * math.sqrt(6.0 / int(np.prod(shape[1:])))
    elif leaf == "gamma":
        v = 0.5 + 0.25 * s
    elif leaf == "running_var":
        v = 1.0 + 0.5 * s
    elif leaf == "weight":
        v = 1.0 + 0.25 * s
    elif leaf in ("bias", "running_mean"):
        v = 0.1 * s
    else:
        raise SystemExit(f"no formula for {name} {shape}")
    return v.astype(np.float32).reshape(shape)


def model_input():
    """The batch [2, 1, H, W]: pixels / 255, normalised as augflow does ((x - 0.5) / 0.25,
    exact in binary), rounded once to float32."""
    batch = np.stack([crossed_sines(WIDTH, HEIGHT, *abc) for abc in IMAGES])[:, None]
    return ((batch / 255.0 - 0.5) / 0.25).astype(np.float32)


def summary(values):
    v = values.reshape(-1)
    return {
        "mean": float(v.mean()),
        "l2": float(np.linalg.norm(v)),
        "max_abs": float(np.abs(v).max()),
        "first16": [float(x) for x in v[:16]],
    }


def reference(name):
    model = timm.create_model(name, pretrained=False)
    state = model.state_dict()
    lines = [
        f"{key} {str(t.dtype).removeprefix('torch.')} {','.join(str(d) for d in t.shape)}" for key, t in state.items()
    ]
    checksum = fill_state(state, fill_value)
    stem = model.pretrained_cfg["first_conv"] + ".weight"
    gray = timm.create_model(name, pretrained=False, in_chans=1)
    state[stem] = adapt_input_conv(1, state[stem])
    gray.load_state_dict(state)
    gray.eval()
    x = torch.from_numpy(model_input())
    out = {}
    for dtype in (torch.float64, torch.float32):
        with torch.no_grad():
            m = gray.to(dtype)
            features = m.forward_head(m.forward_features(x.to(dtype)), pre_logits=True)
            logits = m.forward_head(m.forward_features(x.to(dtype)))
        out[dtype] = (features.double().numpy(), logits.double().numpy())
    (f64_features, f64_logits), (f32_features, f32_logits) = out[torch.float64], out[torch.float32]
    worst = max(
        np.abs(f64_features - f32_features).max() / np.abs(f64_features).max(),
        np.abs(f64_logits - f32_logits).max() / np.abs(f64_logits).max(),
    )
    print(f"{name}: {checksum['tensors']} float tensors, {checksum['elements']} values, features {list(f64_features.shape)}, f32 vs f64 {worst:.2e}")
    with open(os.path.join(OUT, f"{name}.tensors"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return {
        "stem": stem,
        "fill": checksum,
        "f32_vs_f64": float(worst),
        "images": [
            {"features": summary(f64_features[i]), "logits": summary(f64_logits[i])}
            for i in range(len(IMAGES))
        ],
    }


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    x = model_input()
    result = {
        "versions": {"torch": torch.__version__, "timm": timm.__version__, "numpy": np.__version__},
        "input": {
            "height": HEIGHT,
            "width": WIDTH,
            "images": [list(abc) for abc in IMAGES],
            "bit_sum": int(x.view(np.uint32).astype(np.uint64).sum()),
        },
        "models": {name: reference(name) for name in (sys.argv[1:] or MODELS)},
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
