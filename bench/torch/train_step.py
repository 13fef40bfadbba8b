"""Training-step time of ResNet-50 and a small CNN in PyTorch (CPU), to compare with
Burn (stages/benches/train_step.rs). Same shapes: batch 8, 1-channel input, 5 classes,
Adam (lr 1e-4), cross-entropy; median of the timed steps after one warm-up step.
Prints one JSON line per measurement."""

import argparse
import json
import statistics
import time

import torch
from torch import nn


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        chans = [1, 32, 64, 128, 256]
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

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 64, 7, 2, 3, bias=False),
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


def time_steps(model, size, steps, budget):
    x = torch.randn(8, 1, size, size)
    y = torch.arange(8) % 5
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    times, started = [], time.perf_counter()
    for i in range(steps + 1):
        t = time.perf_counter()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        if i > 0:
            times.append(time.perf_counter() - t)
            if time.perf_counter() - started > budget:
                break
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=60.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for name, make in [("small_cnn", SmallCnn), ("resnet50", ResNet50)]:
        for size in [64, 224]:
            times = time_steps(make().train(), size, 5, args.budget)
            print(
                json.dumps(
                    {
                        "framework": "pytorch",
                        "backend": f"cpu-{args.threads}t-torch{torch.__version__}",
                        "model": name,
                        "size": size,
                        "batch": 8,
                        "median_s": round(statistics.median(times), 4),
                        "steps": len(times),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
