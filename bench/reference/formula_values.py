"""The value stream every reference script fills its weights and inputs from.

`unit_values(name, n)` is the formula of the Rust side's `fnv1a64` and `unit_value`
(stages/src/metrics/quality/inception/test_weights.rs): splitmix64 keyed by the name's FNV-1a
hash, so a weight named the same gets the same bits on both sides without a weights file.
Shared by inception_reference.py, sd_reference.py and timm_reference.py.
"""

import math

import numpy as np
import torch

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def unit_values(name, n):
    """n values in [-1, 1): splitmix64 outputs seeded by the name's FNV-1a hash."""
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(name)) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    # 53 random bits as an exact float64 in [0, 1), then [-1, 1); all steps exact.
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53 * 2.0 - 1.0


def fill_state(state, fill_value):
    """Fills every float tensor of a state dict in place with `fill_value(name, shape)`
    (integer buffers such as BatchNorm's num_batches_tracked are left alone) and returns
    the checksum the Rust tests compare: tensors, elements and the sum of the f32 bits."""
    count = elements = bits = 0
    for name, tensor in state.items():
        if not tensor.is_floating_point():
            continue
        values = fill_value(name, tuple(tensor.shape))
        tensor.copy_(torch.from_numpy(values))
        count += 1
        elements += values.size
        bits += int(values.view(np.uint32).astype(np.uint64).sum())
    return {"tensors": count, "elements": elements, "bit_sum": bits}


def crossed_sines(width, height, a, b, c):
    """An 8-bit grayscale test image, row-major, as float64 levels 0..=255: crossed sines
    (the same formula in the Rust tests)."""
    pixels = np.empty((height, width), dtype=np.float64)
    for y in range(height):
        for x in range(width):
            v = 0.5 + 0.35 * math.sin(a * x + b * y) * math.cos(c * y - 0.05 * x) + 0.1 * math.cos(0.3 * x * y / width)
            pixels[y, x] = math.floor(255.0 * min(max(v, 0.0), 1.0) + 0.5)
    return pixels
