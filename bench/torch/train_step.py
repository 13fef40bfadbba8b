"""Training-step time of ResNet-50 and a small CNN in PyTorch (CPU), to compare with
Burn (stages/benches/train_step.rs). Same shapes: batch 8, 1-channel input, 5 classes,
Adam (lr 1e-4), cross-entropy; median of the timed steps after one warm-up step.
Prints one JSON line per measurement.

bench/gpu.sh widens the grid: --device cuda, --models (small_cnn, resnet50,
efficientnet_b0, convnext_tiny: the last two from torchvision, skipped when it is not
installed), --sizes, --batches, --channels, --steps. On CUDA each line also has the peak
memory PyTorch's allocator reserved (torch.cuda.max_memory_reserved), in MiB."""

import argparse
import json
import statistics
import sys
import time

import torch
from torch import nn


class SmallCnn(nn.Module):
    def __init__(self, channels=1):
        super().__init__()
        chans = [channels, 32, 64, 128, 256]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(chans, chans[1:])
        )
        self.fc = nn.Linear(256, 5)

    def forward(self, x):
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.fc(x.mean(dim=(2, 3)))


class Bottleneck(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(inp, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.down = None
        if stride != 1 or inp != out:
            self.down = nn.Sequential(
                nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x):
        idn = x if self.down is None else self.down(x)
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return torch.relu(self.bn3(self.conv3(x)) + idn)


class ResNet50(nn.Module):
    """torchvision's resnet50 (v1.5) with a 1-channel stem and 5 classes, inlined so the
    benchmark needs only torch."""

    def __init__(self, channels=1):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        layers, inp = [], 64
        for i, n in enumerate([3, 4, 6, 3]):
            planes = 64 << i
            for b in range(n):
                layers.append(Bottleneck(inp, planes, 2 if i > 0 and b == 0 else 1))
                inp = planes * 4
        self.layers = nn.Sequential(*layers)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(2048, 5)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(self.drop(x.mean(dim=(2, 3))))


def torchvision_model(name, channels):
    """EfficientNet-B0 / ConvNeXt-T from torchvision with 5 classes and `channels` inputs,
    or None when torchvision is not installed."""
    try:
        import torchvision
    except ImportError:
        return None
    model = getattr(torchvision.models, name)(weights=None, num_classes=5)
    if channels != 3:
        first = model.features[0][0]
        model.features[0][0] = nn.Conv2d(
            channels,
            first.out_channels,
            first.kernel_size,
            first.stride,
            first.padding,
            bias=first.bias is not None,
        )
    return model


def make_model(name, channels):
    if name == "small_cnn":
        return SmallCnn(channels)
    if name == "resnet50":
        return ResNet50(channels)
    return torchvision_model(name, channels)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(model, size, steps, budget, batch=8, channels=1, device=None):
    device = device or torch.device("cpu")
    model = model.to(device)
    x = torch.randn(batch, channels, size, size, device=device)
    y = torch.arange(batch, device=device) % 5
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    times, started = [], time.perf_counter()
    for i in range(steps + 1):
        t = time.perf_counter()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        sync(device)
        if i > 0:
            times.append(time.perf_counter() - t)
            if time.perf_counter() - started > budget:
                break
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="small_cnn,resnet50")
    parser.add_argument("--sizes", default="64,224")
    parser.add_argument("--batches", default="8")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if device.type == "cuda":
        backend = f"cuda-{torch.cuda.get_device_name(device)}-torch{torch.__version__}"
    else:
        backend = f"cpu-{args.threads}t-torch{torch.__version__}"
    for name in args.models.split(","):
        for size in [int(v) for v in args.sizes.split(",")]:
            for batch in [int(v) for v in args.batches.split(",")]:
                model = make_model(name, args.channels)
                if model is None:
                    print(f"skipping {name}: torchvision is not installed", file=sys.stderr)
                    continue
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                times = time_steps(
                    model.train(), size, args.steps, args.budget, batch, args.channels, device
                )
                line = {
                    "framework": "pytorch",
                    "backend": backend,
                    "model": name,
                    "size": size,
                    "batch": batch,
                    "channels": args.channels,
                    "median_s": round(statistics.median(times), 4),
                    "steps": len(times),
                }
                if device.type == "cuda":
                    line["mem_reserved_mib"] = round(
                        torch.cuda.max_memory_reserved(device) / 2**20
                    )
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
