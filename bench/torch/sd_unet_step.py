"""Stable Diffusion v1.x U-Net training step in PyTorch (CPU), the twin of
stages/benches/sd_unet_step.rs: diffusers' UNet2DConditionModel built from the same
config.json with random weights, one latent of SIDE² (32 for 256-px images), batch 1, a
77-token context, ε-MSE against a fixed target, forward and backward. Prints one JSON line:
parameters, the first step and the median of the others, in milliseconds.

usage: sd_unet_step.py CONFIG SIDE STEPS THREADS"""

import json
import statistics
import sys
import time

import torch
from diffusers import UNet2DConditionModel


def main():
    config_path, side, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with open(config_path) as f:
        config = json.load(f)
    unet = UNet2DConditionModel.from_config(config).train()
    params = sum(p.numel() for p in unet.parameters())
    x = torch.randn(1, config["in_channels"], side, side)
    target = torch.randn(1, config["out_channels"], side, side)
    context = torch.randn(1, 77, config["cross_attention_dim"])
    t = torch.tensor([500])
    times = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        unet.zero_grad(set_to_none=True)
        predicted = unet(x, t, encoder_hidden_states=context).sample
        loss = torch.nn.functional.mse_loss(predicted, target)
        loss.backward()
        times.append((time.perf_counter() - started) * 1e3)
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}",
        "side": side,
        "params": params,
        "steps": steps,
        "first_ms": times[0],
        "median_ms": statistics.median(times[1:]) if steps else times[0],
    }))


if __name__ == "__main__":
    main()
