"""Converts pytorch-fid's FID Inception-v3 weights to the safetensors file that augflow's
`score.quality` (`features: inception`, `inception_weights: <file>`) loads.

    pip install torch safetensors
    curl -LO https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
    python bench/reference/convert_fid_inception.py pt_inception-2015-12-05-6726825d.pth fid_inception.safetensors

The names stay pytorch-fid's state-dict names (`Conv2d_1a_3x3.conv.weight`,
`Mixed_5b.branch1x1.bn.running_mean`, ..., `fc.weight`); values stay float32. augflow
checks every tensor it needs by name and shape, and ignores `fc.*` and
`num_batches_tracked`.
"""

import hashlib
import sys

import torch
from safetensors.torch import save_file

EXPECTED_SHA256_PREFIX = "6726825d"  # the suffix of the official file name
CONV_LAYERS = 94  # BasicConv2d layers of fid_inception_v3


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, target = sys.argv[1], sys.argv[2]
    with open(source, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if not digest.startswith(EXPECTED_SHA256_PREFIX):
        print(
            f"warning: {source} has sha256 {digest}, not the official "
            f"pt_inception-2015-12-05-{EXPECTED_SHA256_PREFIX}.pth; FIDs will not be comparable",
            file=sys.stderr,
        )
    state = torch.load(source, map_location="cpu", weights_only=True)
    tensors = {name: t.detach().contiguous() for name, t in state.items()}
    convs = sum(name.endswith(".conv.weight") for name in tensors)
    if convs != CONV_LAYERS or tuple(tensors["fc.weight"].shape) != (1008, 2048):
        raise SystemExit(
            f"{source} is not the FID Inception-v3 state dict: {convs} conv layers "
            f"(expected {CONV_LAYERS}), fc.weight {tuple(tensors['fc.weight'].shape)} "
            "(expected (1008, 2048))"
        )
    save_file(tensors, target)
    print(f"wrote {len(tensors)} tensors to {target}")


if __name__ == "__main__":
    main()
