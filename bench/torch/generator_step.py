"""Training-step time and sampling throughput of the generators in PyTorch (CPU), to
compare with Burn (stages/benches/generator_step.rs). The networks mirror the Rust
modules layer by layer (stages/src/generators/ddpm/unet.rs, gan/{layers, generator,
discriminator}.rs) and so do the training steps (ddpm/train.rs, gan/train.rs); the
parameter counts are printed so they can be checked against Burn's.

- DDPM: 32 px, base 16, levels x1 x2 x2, one residual block, attention at 8 px, T = 200,
  batch 16; eps-prediction MSE, Adam (lr warm-up), EMA each step. Sampling: DDIM
  (eta = 0), 20 steps, batch 32.
- GAN: StyleGAN2-style, base 16 / at most 64 channels, z = w = 128, 2 mapping layers,
  minibatch-stddev group 4, 2 classes, batch 16; non-saturating loss, lazy
  finite-difference R1 every 16 steps, Adam (0, 0.99), EMA each step, ADA off.
  Sampling: one forward per batch of 32.

Seconds per step are the mean over the timed steps after warm-up (for the GAN a whole
number of R1 intervals, so R1 is counted at its real rate; the median, without R1, is
printed too); images/s are the median over three timed runs after one warm-up batch.
Data are random images (timing does not depend on pixel values). Prints one JSON line
per measurement."""

import argparse
import copy
import json
import math
import re
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

BATCH = 16
SAMPLE_BATCH = 32
DDIM_STEPS = 20
CLASSES = 2
# Training images per class after the 10 % hold-out of the Burn run (24 -> 22).
IMAGES = 44
SQRT2 = math.sqrt(2.0)


# ---------------------------------------------------------------- DDPM (ddpm/unet.rs)


def group_norm(channels):
    """GroupNorm with up to 32 groups, as many as divide the channels."""
    groups = max(g for g in range(1, min(32, channels) + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels, eps=1e-5)


def conv3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, time_dim):
        super().__init__()
        self.norm1 = group_norm(cin)
        self.conv1 = conv3(cin, cout)
        self.time = nn.Linear(time_dim, cout)
        self.norm2 = group_norm(cout)
        self.conv2 = conv3(cout, cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class Attention(nn.Module):
    """Single-head self-attention over all pixels."""

    def __init__(self, ch):
        super().__init__()
        self.norm = group_norm(ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, c, h * w)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        scores = q.transpose(1, 2) @ k / math.sqrt(c)
        attn = torch.softmax(scores, dim=2)
        out = (v @ attn.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.out(out)


class Level(nn.Module):
    def __init__(self, blocks, attentions, resample):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList(attentions)
        self.resample = resample


class UNet(nn.Module):
    def __init__(self, base, mults, res_blocks, attention_res, size):
        super().__init__()
        time_dim = 4 * base
        levels = len(mults)
        chans, ch, res = [base], base, size
        down = []
        for i, mult in enumerate(mults):
            out = base * mult
            attend = res in attention_res
            blocks, attns = [], []
            for _ in range(res_blocks):
                blocks.append(ResBlock(ch, out, time_dim))
                if attend:
                    attns.append(Attention(out))
                ch = out
                chans.append(ch)
            resample = conv3(ch, ch, 2) if i + 1 < levels else None
            if resample is not None:
                chans.append(ch)
                res //= 2
            down.append(Level(blocks, attns, resample))
        self.mid1 = ResBlock(ch, ch, time_dim)
        self.mid_attn = Attention(ch)
        self.mid2 = ResBlock(ch, ch, time_dim)
        up = []
        for i, mult in reversed(list(enumerate(mults))):
            out = base * mult
            attend = res in attention_res
            blocks, attns = [], []
            for _ in range(res_blocks + 1):
                skip = chans.pop() if chans else base
                blocks.append(ResBlock(ch + skip, out, time_dim))
                if attend:
                    attns.append(Attention(out))
                ch = out
            resample = conv3(ch, ch, 1) if i > 0 else None
            if resample is not None:
                res *= 2
            up.append(Level(blocks, attns, resample))
        self.time1 = nn.Linear(base, time_dim)
        self.time2 = nn.Linear(time_dim, time_dim)
        self.conv_in = conv3(1, base)
        self.down = nn.ModuleList(down)
        self.up = nn.ModuleList(up)
        self.norm_out = group_norm(ch)
        self.conv_out = conv3(ch, 1)
        self.base = base

    def forward(self, x, t):
        temb = timestep_embedding(t, self.base)
        temb = self.time2(F.silu(self.time1(temb)))
        h = self.conv_in(x)
        skips = [h]
        for level in self.down:
            for i, block in enumerate(level.blocks):
                h = block(h, temb)
                if i < len(level.attentions):
                    h = level.attentions[i](h)
                skips.append(h)
            if level.resample is not None:
                h = level.resample(h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb)), temb)
        for level in self.up:
            for i, block in enumerate(level.blocks):
                h = block(torch.cat([h, skips.pop()], 1), temb)
                if i < len(level.attentions):
                    h = level.attentions[i](h)
            if level.resample is not None:
                h = level.resample(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(h)))


def timestep_embedding(t, dim):
    """[sin(t f_i), cos(t f_i)], f_i = 10000^(-i/(half-1)), zero-padded to dim."""
    half = max(dim // 2, 1)
    scale = math.log(10_000.0) / (max(half, 2) - 1)
    freqs = torch.exp(-scale * torch.arange(half, dtype=torch.float64))
    args = t.to(torch.float64)[:, None] * freqs[None]
    emb = torch.cat([args.sin(), args.cos()], 1).float()
    return F.pad(emb, (0, dim - 2 * half))


def linear_alpha_bars(steps):
    scale = 1000.0 / steps
    start, end = 1e-4 * scale, min(0.02 * scale, 0.999)
    betas = torch.linspace(start, end, steps, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, 0)


def ddim_timesteps(steps, count):
    count = max(1, min(count, steps))
    out = sorted({i * steps // count for i in range(count)}, reverse=True)
    return out


# ------------------------------------------------------ GAN (gan/layers.rs and others)


def lrelu(x):
    return F.leaky_relu(x, 0.2) * SQRT2


def normalize_2nd_moment(x):
    return x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()


class EqLinear(nn.Module):
    """y = x (g W) + b lr_mul, g = lr_mul / sqrt(in); W stored [in, out], N(0, 1/lr_mul^2)."""

    def __init__(self, cin, cout, bias, lr_mul=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cin, cout) / lr_mul)
        self.bias = None if bias is None else nn.Parameter(torch.full((cout,), bias))
        self.weight_gain = lr_mul / math.sqrt(cin)
        self.bias_gain = lr_mul

    def forward(self, x):
        y = x @ (self.weight * self.weight_gain)
        return y if self.bias is None else y + self.bias * self.bias_gain


class EqConv(nn.Module):
    def __init__(self, cin, cout, kernel, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.gain = 1.0 / math.sqrt(cin * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x):
        return F.conv2d(x, self.weight * self.gain, self.bias, padding=self.padding)


def upsample2(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


def downsample2(x):
    return F.avg_pool2d(x, 2)


def modulated_conv(x, weight, styles, demodulate):
    """StyleGAN2's modulated conv, fused_modconv = False: scale inputs by the style,
    convolve with the shared weight, then divide by the per-sample weight norm."""
    b, c_in = styles.shape
    k = weight.shape[-1]
    y = F.conv2d(x * styles[:, :, None, None], weight, padding=k // 2)
    if not demodulate:
        return y
    w_sq = weight.square().sum((2, 3)).t()  # [in, out]
    d = (styles.square() @ w_sq + 1e-8).rsqrt()
    return y * d[:, :, None, None]


class StyleLayer(nn.Module):
    def __init__(self, w_dim, cin, cout, to_gray):
        super().__init__()
        k = 1 if to_gray else 3
        self.affine = EqLinear(w_dim, cin, 1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.noise_strength = None if to_gray else nn.Parameter(torch.zeros(cout))
        self.to_gray = to_gray
        self.weight_gain = 1.0 / math.sqrt(cin * k * k)

    def forward(self, x, w, noise=None):
        styles = self.affine(w)
        bias = self.bias[None, :, None, None]
        if self.to_gray:
            return modulated_conv(x, self.weight, styles * self.weight_gain, False) + bias
        y = modulated_conv(x, self.weight, styles, True)
        if noise is not None:
            y = y + noise * self.noise_strength[None, :, None, None]
        return lrelu(y + bias)


class Mapping(nn.Module):
    def __init__(self, z_dim, w_dim, layers, classes):
        super().__init__()
        self.embed = EqLinear(classes, w_dim, 0.0)
        widths = [z_dim + w_dim] + [w_dim] * (layers - 1)
        self.layers = nn.ModuleList(EqLinear(i, w_dim, 0.0, 0.01) for i in widths)

    def forward(self, z, labels):
        x = torch.cat([normalize_2nd_moment(z), normalize_2nd_moment(self.embed(labels))], 1)
        for layer in self.layers:
            x = lrelu(layer(x))
        return x


def channels(size, res, base, max_channels):
    return min(base * max(size // max(res, 1), 1), max_channels)


class SynthesisBlock(nn.Module):
    def __init__(self, conv0, conv1, to_gray):
        super().__init__()
        self.conv0, self.conv1, self.to_gray = conv0, conv1, to_gray


class Generator(nn.Module):
    def __init__(self, size, z_dim, w_dim, mapping_layers, base, max_ch, classes):
        super().__init__()
        self.mapping = Mapping(z_dim, w_dim, mapping_layers, classes)
        c4 = channels(size, 4, base, max_ch)
        self.constant = nn.Parameter(torch.randn(c4, 4, 4))
        blocks, res, c_prev = [], 4, c4
        self.noise_sides = []
        while res <= size:
            c = channels(size, res, base, max_ch)
            conv0 = StyleLayer(w_dim, c_prev, c, False) if res > 4 else None
            c_in = c if res > 4 else c_prev
            blocks.append(
                SynthesisBlock(
                    conv0, StyleLayer(w_dim, c_in, c, False), StyleLayer(w_dim, c, 1, True)
                )
            )
            self.noise_sides += [res] * (2 if res > 4 else 1)
            c_prev = c
            res *= 2
        self.blocks = nn.ModuleList(blocks)
        self.z_dim = z_dim

    def inputs(self, b, classes):
        z = torch.randn(b, self.z_dim)
        labels = F.one_hot(classes, CLASSES).float()
        noise = [torch.randn(b, 1, s, s) for s in self.noise_sides]
        return z, labels, noise

    def forward(self, z, labels, noise):
        w = self.mapping(z, labels)
        x = self.constant[None].expand(z.shape[0], -1, -1, -1)
        noise = iter(noise)
        image = None
        for block in self.blocks:
            if block.conv0 is not None:
                x = block.conv0(upsample2(x), w, next(noise))
            x = block.conv1(x, w, next(noise))
            gray = block.to_gray(x, w)
            image = gray if image is None else upsample2(image) + gray
        return image


class DBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv0 = EqConv(cin, cin, 3, True)
        self.conv1 = EqConv(cin, cout, 3, True)
        self.skip = EqConv(cin, cout, 1, False)

    def forward(self, x):
        skip = self.skip(downsample2(x))
        h = lrelu(self.conv0(x))
        h = downsample2(lrelu(self.conv1(h)))
        return (skip + h) * (1.0 / SQRT2)


def minibatch_stddev(x, group):
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(group, b) + 1) if b % d == 0)
    m = b // g
    grouped = x.reshape(g, m, c * h * w)
    centred = grouped - grouped.mean(0, keepdim=True)
    std = (centred.square().mean(0, keepdim=True) + 1e-8).sqrt().mean(2, keepdim=True)
    channel = std.reshape(1, m, 1, 1).expand(g, m, h, w).reshape(b, 1, h, w)
    return torch.cat([x, channel], 1)


class Discriminator(nn.Module):
    def __init__(self, size, base, max_ch, classes, mbstd_group):
        super().__init__()
        ch = lambda res: channels(size, res, base, max_ch)  # noqa: E731
        self.from_gray = EqConv(1, ch(size), 1, True)
        blocks, res = [], size
        while res > 4:
            blocks.append(DBlock(ch(res), ch(res // 2)))
            res //= 2
        self.blocks = nn.ModuleList(blocks)
        c4 = ch(4)
        self.conv = EqConv(c4 + (1 if mbstd_group > 0 else 0), c4, 3, True)
        self.fc = EqLinear(c4 * 16, c4, 0.0)
        self.out = EqLinear(c4, 1, 0.0)
        self.embed = nn.Parameter(torch.randn(classes, c4))
        self.mbstd_group = mbstd_group

    def forward(self, images, labels):
        x = lrelu(self.from_gray(images))
        for block in self.blocks:
            x = block(x)
        if self.mbstd_group > 0:
            x = minibatch_stddev(x, self.mbstd_group)
        x = lrelu(self.conv(x))
        phi = lrelu(self.fc(x.flatten(1)))
        projection = ((labels @ self.embed) * phi).sum(1, keepdim=True) / math.sqrt(
            phi.shape[1]
        )
        return (self.out(phi) + projection).reshape(-1)


# ------------------------------------------------------------------------- training


@torch.no_grad()
def ema_update(ema, model, decay):
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)


def batch(data):
    """A batch of BATCH training images (a permutation's slice), half of them mirrored."""
    idx = torch.randperm(data.shape[0])[:BATCH]
    x = data[idx]
    flip = (torch.rand(BATCH) < 0.5)[:, None, None, None]
    return torch.where(flip, x.flip(3), x), idx


class DdpmTrainer:
    def __init__(self, size, steps_total):
        self.model = UNet(16, [1, 2, 2], 1, [8], size)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=2e-4, eps=1e-8)
        self.alpha_bars = linear_alpha_bars(200)
        self.data = torch.rand(IMAGES // 2, 1, size, size) * 2 - 1
        self.warmup = max(steps_total // 20, 1)
        self.step_index = 0

    def step(self):
        step = self.step_index
        x0, _ = batch(self.data)
        t = torch.randint(0, 200, (BATCH,))
        eps = torch.randn_like(x0)
        ab = self.alpha_bars[t].float()[:, None, None, None]
        xt = x0 * ab.sqrt() + eps * (1 - ab).sqrt()
        loss = (self.model(xt, t) - eps).square().mean()
        loss.item()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        for group in self.opt.param_groups:
            group["lr"] = 2e-4 * min((step + 1) / self.warmup, 1.0)
        self.opt.step()
        ema_update(self.ema, self.model, min(0.999, (1 + step) / (10 + step)))
        self.step_index += 1

    @torch.no_grad()
    def sample(self, n):
        steps = ddim_timesteps(200, DDIM_STEPS)
        x = torch.randn(n, 1, self.data.shape[2], self.data.shape[3])
        for i, t in enumerate(steps):
            ab = self.alpha_bars[t].item()
            ab_prev = self.alpha_bars[steps[i + 1]].item() if i + 1 < len(steps) else 1.0
            eps = self.ema(x, torch.full((n,), t))
            x0 = ((x - eps * math.sqrt(1 - ab)) / math.sqrt(ab)).clamp(-1, 1)
            eps = (x - x0 * math.sqrt(ab)) / math.sqrt(1 - ab)
            x = x0 * math.sqrt(ab_prev) + eps * math.sqrt(1 - ab_prev)
        return x.clamp(-1, 1).cpu().numpy()


class GanTrainer:
    R1_EPSILON = 1e-2
    R1_GAMMA = 0.05
    R1_INTERVAL = 16

    def __init__(self, size):
        self.g = Generator(size, 128, 128, 2, 16, 64, CLASSES)
        self.d = Discriminator(size, 16, 64, CLASSES, 4)
        self.ema = copy.deepcopy(self.g).requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-3, betas=(0.0, 0.99), eps=1e-8)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-3, betas=(0.0, 0.99), eps=1e-8)
        self.data = torch.rand(IMAGES, 1, size, size) * 2 - 1
        self.labels = torch.arange(IMAGES) % CLASSES
        self.step_index = 0

    def step(self):
        step = self.step_index
        # Discriminator: softplus(D(fake)) + softplus(-D(real)), R1 every 16 steps.
        real, idx = batch(self.data)
        classes = self.labels[idx]
        labels = F.one_hot(classes, CLASSES).float()
        with torch.no_grad():
            fake = self.g(*self.g.inputs(BATCH, classes))
        d_fake = self.d(fake, labels)
        d_real = self.d(real, labels)
        loss = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
        loss.item()
        d_real.sign().sum().item()  # ADA's signal, read as ours does
        if step % self.R1_INTERVAL == 0:
            # ||grad D||^2 ~ ((D(x + eps v) - D(x)) / eps)^2, as gan/train.rs.
            moved = self.d(real + torch.randn_like(real) * self.R1_EPSILON, labels)
            slope = (moved - d_real) / self.R1_EPSILON
            loss = loss + slope.square().mean() * (self.R1_GAMMA / 2 * self.R1_INTERVAL)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        # Generator: softplus(-D(G(z, c))). D's parameters keep requires_grad, so their
        # gradients are computed (and dropped) as in Burn, whose autodiff does the same.
        fake = self.g(*self.g.inputs(BATCH, classes))
        loss_g = F.softplus(-self.d(fake, labels)).mean()
        loss_g.item()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        ema_update(self.ema, self.g, min(0.999, (1 + step) / (10 + step)))
        self.step_index += 1

    @torch.no_grad()
    def sample(self, n):
        classes = torch.zeros(n, dtype=torch.long)
        return self.ema(*self.ema.inputs(n, classes)).clamp(-1, 1).cpu().numpy()


def count(module):
    return sum(p.numel() for p in module.parameters())


def time_training(trainer, warmup, timed):
    for _ in range(warmup):
        trainer.step()
    times = []
    for _ in range(timed):
        t = time.perf_counter()
        trainer.step()
        times.append(time.perf_counter() - t)
    return times


def time_sampling(trainer, images, repeats=3):
    trainer.sample(SAMPLE_BATCH)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for start in range(0, images, SAMPLE_BATCH):
            trainer.sample(min(SAMPLE_BATCH, images - start))
        rates.append(images / (time.perf_counter() - t))
    return rates


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    # bench/gpu.sh: --device cuda puts every tensor and module on the GPU (factory
    # functions included, through the default device); the losses read back each step
    # (`.item()`) and the sampled images copied to the host keep the timings synchronous.
    parser.add_argument("--device", default="cpu")
    parser.add_argument("cases", nargs="*", default=["ddpm32", "gan32", "gan64"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    backend = f"cpu-{args.threads}t-torch{torch.__version__}"
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.set_default_device(args.device)
        backend = f"cuda-{torch.cuda.get_device_name()}-torch{torch.__version__}"

    def emit(**fields):
        print(json.dumps({"framework": "pytorch", **fields}), flush=True)

    for case in args.cases:
        model, size = re.fullmatch(r"(ddpm|gan)(\d+)", case).groups()
        size = int(size)
        started = time.perf_counter()
        if model == "ddpm":
            # 3 warm-up steps, then 30 timed.
            trainer = DdpmTrainer(size, 33)
            params = {"unet": count(trainer.model)}
            warmup, timed, images = 3, 30, 64
        else:
            # One R1 interval of warm-up, then two timed (R1 at steps 16 and 32).
            trainer = GanTrainer(size)
            params = {"generator": count(trainer.g), "discriminator": count(trainer.d)}
            warmup, timed, images = 16, 32, 1024
        emit(model=model, size=size, measure="params", params=params)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        times = time_training(trainer, warmup, timed)
        memory = {"mem_reserved_mib": round(torch.cuda.max_memory_reserved() / 2**20)} if cuda else {}
        run = {"backend": backend, "model": model, "size": size}
        emit(
            **run,
            batch=BATCH,
            measure="train",
            s_per_step=round(statistics.fmean(times), 4),
            median_s=round(statistics.median(times), 4),
            steps=len(times),
            total_s=round(time.perf_counter() - started, 1),
            **memory,
        )
        started = time.perf_counter()
        rates = time_sampling(trainer, images)
        emit(
            **run,
            batch=SAMPLE_BATCH,
            measure="sample",
            images_per_s=round(statistics.median(rates), 3),
            spread=[round(min(rates), 3), round(max(rates), 3)],
            images=images,
            total_s=round(time.perf_counter() - started, 1),
        )


if __name__ == "__main__":
    main()
