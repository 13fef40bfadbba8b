"""The ops of stages/benches/conv_ops.rs in PyTorch on the CPU, same shapes, same timing
(median of --reps runs after 3 warm-ups); one JSON line per measurement."""
import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

# The shapes both benchmarks time (stages/benches/conv_ops.rs reads the same file).
SHAPES = json.loads((Path(__file__).parent / "conv_shapes.json").read_text())
FIELDS = ("name", "batch", "in_channels", "out_channels", "side", "kernel", "stride")


def timed(reps, run):
    for _ in range(3):
        run()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def line(op, shape, seconds):
    print(json.dumps({"framework": f"pytorch-{torch.__version__}", "op": op, "shape": shape,
                      "median_ms": round(seconds * 1e3, 3)}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name, n, cin, cout, side, k, stride in ([shape[f] for f in FIELDS] for shape in SHAPES):
        x = torch.randn(n, cin, side, side)
        w = torch.randn(cout, cin, k, k)
        with torch.no_grad():
            line("conv2d_forward", name,
                 timed(args.reps, lambda: F.conv2d(x, w, stride=stride, padding=k // 2)))
        xa = x.clone().requires_grad_()
        wa = w.clone().requires_grad_()

        def both():
            xa.grad = None
            wa.grad = None
            F.conv2d(xa, wa, stride=stride, padding=k // 2).sum().backward()

        line("conv2d_forward_backward", name, timed(args.reps, both))
        with torch.no_grad():
            grad = F.conv2d(x, w, stride=stride, padding=k // 2)
            line("conv2d_weight_grad", name, timed(args.reps, lambda: torch.nn.grad.conv2d_weight(
                x, w.shape, grad, stride=stride, padding=k // 2)))
    a = torch.randn(512, 512)
    b = torch.randn(512, 512)
    line("matmul", "512x512x512", timed(args.reps, lambda: a @ b))


if __name__ == "__main__":
    main()
