"""Reference values for augflow's image-quality metrics (stages/src/metrics/quality/).

Prints FID (pytorch-fid), KID (torch-fidelity), SSIM and MS-SSIM (pytorch_msssim) for
fixed inputs that stages/tests/metrics_quality.rs builds with the same formulas, so no
data files are needed. Paste the printed numbers into that test when a reference changes.

Setup (torch CPU or CUDA wheels both do; everything runs on the CPU in float64):
    python3 -m venv ~/.cache/augflow-bench/ref-venv
    ~/.cache/augflow-bench/ref-venv/bin/pip install numpy scipy torch pytorch-msssim \
        torch-fidelity pytorch-fid
    ~/.cache/augflow-bench/ref-venv/bin/python bench/reference/quality_reference.py
(The pinned values came from bench/torch's venv, ~/.cache/augflow-bench/torch-venv, with
the three metric packages added; the test's header lists the versions.)

pytorch_msssim asserts a shorter side above 160 px even when given fewer weights, so the
script re-runs itself under `python -O` (asserts off) to get its 3-scale value for a
64 px pair through its own code path; nothing else here relies on `assert`.
"""

import math
import os
import sys
from importlib.metadata import version

if __debug__:
    os.execv(sys.executable, [sys.executable, "-O", *sys.argv])

import numpy as np
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from pytorch_msssim import ms_ssim, ssim
from torch_fidelity.metric_kid import kernel_mmd, kid_features_to_metric

MS_SSIM_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]


class Lcg:
    """Numerical Recipes' 32-bit LCG; values in [-0.5, 0.5). Same in the Rust test."""

    def __init__(self, seed):
        self.state = seed % 2**32

    def next(self):
        self.state = (self.state * 1664525 + 1013904223) % 2**32
        return (self.state >> 8) / 16777216.0 - 0.5


def pattern(width, height, fx, fy, phase, noise, seed):
    """A float32 image in [0, 1]: crossed sines plus LCG noise, row-major."""
    lcg = Lcg(seed)
    pixels = np.empty((height, width), dtype=np.float32)
    for y in range(height):
        for x in range(width):
            v = (
                0.5
                + 0.3 * math.sin(fx * x + phase) * math.cos(fy * y)
                + 0.1 * math.sin(0.013 * x * y)
                + noise * lcg.next()
            )
            pixels[y, x] = np.float32(min(max(v, 0.0), 1.0))
    return pixels


def features(rows, dims, scale, shift, seed):
    """float32 feature rows: sines plus LCG noise, scaled and shifted per set."""
    lcg = Lcg(seed)
    out = np.empty((rows, dims), dtype=np.float32)
    for i in range(rows):
        for j in range(dims):
            v = (
                scale * (math.sin(0.9 * i + 1.7 * j) + 0.8 * lcg.next())
                + 0.5 * math.cos(0.23 * i * j)
                + shift
            )
            out[i, j] = np.float32(v)
    return out


def tensor(image):
    return torch.from_numpy(image.astype(np.float64))[None, None]


def window():
    """pytorch_msssim's window, built in float64 (its own is float32, cast)."""
    coords = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    return (g / g.sum()).reshape(1, 1, 1, 11)


def ms_ssim_ref(a, b, scales=5):
    weights = MS_SSIM_WEIGHTS[:scales]
    if scales < 5:
        weights = [w / sum(weights) for w in weights]
    return ms_ssim(tensor(a), tensor(b), data_range=1.0, win=window(), weights=weights).item()


def ssim_ref(a, b):
    return ssim(tensor(a), tensor(b), data_range=1.0, win=window()).item()


def fid_ref(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return calculate_frechet_distance(
        np.mean(a, axis=0), np.cov(a, rowvar=False), np.mean(b, axis=0), np.cov(b, rowvar=False)
    )


def main():
    print("# python", sys.version.split()[0], end="")
    for package in ["numpy", "scipy", "torch", "pytorch-msssim", "torch-fidelity", "pytorch-fid"]:
        print(f", {package} {version(package)}", end="")
    print()

    # MS-SSIM pairs; the sizes matter: 192 (even at every scale), 200x168 and 161x175
    # (odd sides at some scales: pytorch_msssim's padded pooling), 64 (3 scales).
    similar_a = pattern(192, 192, 0.11, 0.07, 0.0, 0.2, 1)
    similar_b = pattern(192, 192, 0.11, 0.07, 0.0, 0.2, 2)
    different_a = pattern(200, 168, 0.11, 0.07, 0.0, 0.1, 3)
    different_b = pattern(200, 168, 0.05, 0.13, 1.0, 0.1, 4)
    shifted_a = pattern(161, 175, 0.2, 0.03, 0.5, 0.3, 5)
    shifted_b = pattern(161, 175, 0.2, 0.03, 0.8, 0.3, 5)
    small_a = pattern(64, 64, 0.3, 0.2, 0.0, 0.2, 6)
    small_b = pattern(64, 64, 0.3, 0.2, 0.4, 0.2, 7)
    inverted = np.float32(1.0) - similar_a
    print(f"ms_ssim similar 192x192 = {ms_ssim_ref(similar_a, similar_b)!r}")
    print(f"ms_ssim different 200x168 = {ms_ssim_ref(different_a, different_b)!r}")
    print(f"ms_ssim shifted 161x175 = {ms_ssim_ref(shifted_a, shifted_b)!r}")
    print(f"ms_ssim inverted 192x192 = {ms_ssim_ref(similar_a, inverted)!r}")
    print(f"ms_ssim small 64x64 (3 scales) = {ms_ssim_ref(small_a, small_b, scales=3)!r}")
    print(f"ssim similar 192x192 = {ssim_ref(similar_a, similar_b)!r}")
    print(f"ssim inverted 192x192 = {ssim_ref(similar_a, inverted)!r}")

    fid_a = features(40, 6, 1.0, 0.0, 11)
    fid_b = features(32, 6, 1.5, 0.3, 12)
    print(f"fid 40x6 vs 32x6 = {float(fid_ref(fid_a, fid_b))!r}")

    # With the subset size equal to both set sizes every subset is the whole set (in
    # another order), so torch-fidelity's numpy draws do not matter: mean = MMD², std = 0.
    kid_a = features(48, 10, 1.0, 0.0, 21)
    kid_b = features(48, 10, 1.2, 0.2, 22)
    kid = kid_features_to_metric(
        torch.from_numpy(kid_a.astype(np.float64)),
        torch.from_numpy(kid_b.astype(np.float64)),
        kid_subsets=3,
        kid_subset_size=48,
        rng_seed=2020,
        verbose=False,
    )
    print(f"kid 48x10 mean = {kid['kernel_inception_distance_mean']!r}")
    print(f"kid 48x10 std = {kid['kernel_inception_distance_std']!r}")
    mmd = kernel_mmd(kid_a.astype(np.float64), kid_b.astype(np.float64))
    print(f"mmd2 48x10 = {float(mmd)!r}")


if __name__ == "__main__":
    main()
