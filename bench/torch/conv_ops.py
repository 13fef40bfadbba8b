"""The ops of stages/benches/conv_ops.rs in PyTorch on the CPU, same shapes, same timing
(median of --reps runs after 3 warm-ups); one JSON line per measurement."""
import argparse
import json
import time

import torch
import torch.nn.functional as F

CONVS = [
    ("quick_3x3_16", 16, 16, 16, 16, 3, 1),
    ("quick_1x1_64_16", 16, 64, 16, 16, 1, 1),
    ("quick_3x3_32_s2", 16, 32, 32, 16, 3, 2),
    ("quick_3x3_128", 16, 128, 128, 2, 3, 1),
    ("full_3x3_64", 8, 64, 64, 56, 3, 1),
    ("full_1x1_256_64", 8, 256, 64, 56, 1, 1),
]


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
    for name, n, cin, cout, side, k, stride in CONVS:
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
