"""Reference features for augflow's FID Inception-v3 (stages/src/metrics/quality/inception/).

Builds pytorch-fid's FID Inception-v3 (`pytorch_fid.inception.InceptionV3`, the
`pt_inception-2015-12-05` architecture) through pytorch-fid's own code, except that the
weight download is replaced by a fill: every float parameter and buffer gets values from
a formula of its state-dict name and element index (below; the same formula is in
`augflow_stages::metrics::quality::inception::test_weights`). The real weights are never
downloaded. It then runs three formula-defined 8-bit grayscale images through the
network (pytorch-fid's resize to 299x299 and scaling to [-1, 1] included), prints a
summary and writes what stages/tests/metrics_inception.rs pins to
stages/tests/reference/inception.json (run it from the repository root):

- a checksum of the filled weights (tensor count, element count, sum of the f32 bit
  patterns), so a drift of the formula on either side fails on its own;
- per image, the mean and L2 norm of each block's output (blocks 0-3, as pytorch-fid's
  `output_blocks`) and the first 16 pool3 features, all from a float64 run;
- the largest difference between the float32 and float64 runs, which sizes the tolerance.

Setup (torch CPU or CUDA wheels both do; everything runs on the CPU):
    python3 -m venv ~/.cache/augflow-bench/ref-venv
    ~/.cache/augflow-bench/ref-venv/bin/pip install numpy torch torchvision pytorch-fid
    ~/.cache/augflow-bench/ref-venv/bin/python bench/reference/inception_reference.py
(The pinned values came from ~/.cache/augflow-bench/torch-venv: torch 2.15.0,
torchvision 0.29.2, pytorch-fid 0.3.0, numpy 2.4.6.)
"""

import json
import math
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torchvision
from pytorch_fid import inception as fid_inception

from formula_values import crossed_sines, fill_state, unit_values

def fill_value(name, shape):
    """The formula, in float64 and rounded once to float32 (bit-identical in Rust)."""
    n = int(np.prod(shape)) if len(shape) else 1
    s = unit_values(name, n)
    if name.endswith(".conv.weight"):
        fan_in = int(np.prod(shape[1:]))
        v = s * math.sqrt(6.0 / fan_in)
    elif name.endswith(".bn.weight"):
        v = 1.0 + 0.25 * s
    elif name.endswith(".bn.running_var"):
        v = 1.0 + 0.5 * s
    elif name.endswith((".bn.bias", ".bn.running_mean")):
        v = 0.1 * s
    elif name in ("fc.weight", "fc.bias"):
        v = 0.01 * s
    else:
        raise SystemExit(f"no formula for {name}")
    return v.astype(np.float32).reshape(shape)


FILLED = object()


CHECKSUM = {}


def fill(module):
    """Fills every float entry of module's state dict with the formula."""
    CHECKSUM.update(fill_state(module.state_dict(), fill_value))
    print("weights: tensors {tensors} elements {elements} bit_sum {bit_sum}".format(**CHECKSUM))


def build():
    # fid_inception_v3 calls load_state_dict_from_url and then Inception3.load_state_dict;
    # both are replaced for the duration, so the network is exactly pytorch-fid's.
    original_load = torchvision.models.Inception3.load_state_dict

    def load_state_dict(self, state_dict, *args, **kwargs):
        assert state_dict is FILLED
        fill(self)

    fid_inception.load_state_dict_from_url = lambda *args, **kwargs: FILLED
    torchvision.models.Inception3.load_state_dict = load_state_dict
    try:
        model = fid_inception.InceptionV3(output_blocks=[0, 1, 2, 3])
    finally:
        torchvision.models.Inception3.load_state_dict = original_load
    return model.eval()


IMAGES = [
    (64, 64, 0.21, 0.13, 0.17),
    (64, 64, 0.05, 0.41, 0.09),
    (40, 56, 0.33, 0.07, 0.29),
]


def run(model, pixels, dtype):
    x = torch.from_numpy(pixels).float() / 255.0  # as ToTensor, in float32
    x = x.to(dtype)[None, None].expand(1, 3, *pixels.shape).contiguous()
    with torch.no_grad():
        return [b.to(torch.float64).numpy()[0] for b in model.to(dtype)(x)]


def main():
    torch.set_num_threads(2)
    versions = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pytorch-fid": version("pytorch-fid"),
        "numpy": np.__version__,
    }
    print(" ".join(f"{name} {v}" for name, v in versions.items()))
    model = build()
    worst = 0.0
    images = []
    for width, height, a, b, c in IMAGES:
        pixels = crossed_sines(width, height, a, b, c).astype(np.uint8)
        exact = run(model, pixels, torch.float64)
        single = run(model, pixels, torch.float32)
        pixel_sum = int(pixels.astype(np.int64).sum())
        print(f"image {width}x{height} ({a}, {b}, {c}) pixel_sum {pixel_sum}")
        blocks = []
        for i, (e, s) in enumerate(zip(exact, single)):
            diff = np.abs(e - s).max()
            scale = np.abs(e).max()
            worst = max(worst, diff / scale)
            blocks.append({"mean": e.mean(), "l2": np.linalg.norm(e), "max_abs": scale})
            print(
                f"  block {i} shape {list(e.shape)} mean {e.mean():.9e} l2 {np.linalg.norm(e):.9e} "
                f"max_abs {scale:.6e} f32_vs_f64 {diff:.3e}"
            )
        features = exact[3].reshape(-1)
        print("  first16 [" + ", ".join(f"{v:.8e}" for v in features[:16]) + "]")
        images.append(
            {
                "image": [width, height, a, b, c],
                "pixel_sum": pixel_sum,
                "blocks": [{k: float(v) for k, v in block.items()} for block in blocks],
                "first16": [float(v) for v in features[:16]],
            }
        )
    print(f"largest |f32 - f64| / max|f64| over blocks and images: {worst:.3e}")
    out = {
        "generated_by": "bench/reference/inception_reference.py",
        "versions": versions,
        "weights": CHECKSUM,
        "f32_vs_f64": float(worst),
        "images": images,
    }
    path = Path("stages/tests/reference/inception.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
