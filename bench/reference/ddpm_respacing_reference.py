"""Reference for `sample` with `sampler: ddpm` and `steps: N` (stages/tests/ddpm_respacing.rs).

diffusers' `DDPMScheduler.set_timesteps(N)` respaces a T-step schedule; this script writes, for
a few (T, N, schedule) cases, the timesteps it picks and the result of its `step()` on fixed
inputs (x_t, ε̂ and the noise it draws), so the Rust test checks our respacing and every
coefficient of the ancestral step against diffusers itself. Run from the repository root:

    /work/venv/bin/python bench/reference/ddpm_respacing_reference.py

(any Python with torch and diffusers). It rewrites stages/tests/reference/ddpm_respacing.json.
Our linear schedule rescales Ho et al.'s β range by 1000/T (Nichol & Dhariwal), so the
scheduler is built with that range; diffusers' `squaredcos_cap_v2` is our cosine schedule.
"""

import json
from pathlib import Path

import diffusers
import torch
from diffusers import DDPMScheduler
from diffusers.utils.torch_utils import randn_tensor

CASES = [
    (1000, 250, "linear"),  # the study's DDPMPipeline(num_inference_steps=250)
    (1000, 1000, "linear"),  # every step: plain ancestral sampling
    (1000, 300, "linear"),  # T not a multiple of N
    (100, 7, "cosine"),
    (64, 64, "cosine"),
]
VALUES = 6  # values per test vector


def scheduler(timesteps, schedule):
    if schedule == "linear":
        scale = 1000.0 / timesteps
        return DDPMScheduler(
            num_train_timesteps=timesteps,
            beta_schedule="linear",
            beta_start=1e-4 * scale,
            beta_end=min(0.02 * scale, 0.999),
        )
    return DDPMScheduler(num_train_timesteps=timesteps, beta_schedule="squaredcos_cap_v2")


def upcast(sched):
    # diffusers keeps its tables in float32, and 1 − ᾱ_t/ᾱ_prev cancels badly there near
    # t = 0 (relative errors ~1e-4). Redo its own table construction in float64 from its
    # betas, so the reference checks the formulas, not float32 rounding.
    sched.betas = sched.betas.double()
    sched.alphas = 1.0 - sched.betas
    sched.alphas_cumprod = torch.cumprod(sched.alphas, dim=0)
    sched.one = torch.tensor(1.0, dtype=torch.float64)
    return sched


def case(timesteps, count, schedule):
    sched = upcast(scheduler(timesteps, schedule))
    sched.set_timesteps(count)
    chosen = [int(t) for t in sched.timesteps]
    # Steps to check: the first three, one in the middle, the last three.
    picks = sorted(set(range(min(3, count))) | {count // 2} | set(range(max(0, count - 3), count)))
    steps = []
    for i in picks:
        t = chosen[i]
        gen = torch.Generator().manual_seed(1000 + i)
        # Shaped (batch, channels, values), as step() reads the channel axis.
        shape = (1, 1, VALUES)
        x = (torch.linspace(-2.5, 2.5, VALUES, dtype=torch.float64) * (1 + i % 3)).reshape(shape)
        eps = torch.linspace(1.5, -1.0, VALUES, dtype=torch.float64).reshape(shape)
        noise = randn_tensor(shape, generator=gen, dtype=torch.float64)
        out = sched.step(eps, t, x, generator=torch.Generator().manual_seed(1000 + i))
        steps.append(
            {
                "index": i,
                "t": t,
                "prev_t": int(sched.previous_timestep(t)),
                "x": x.flatten().tolist(),
                "eps": eps.flatten().tolist(),
                "noise": noise.flatten().tolist(),
                "prev_sample": out.prev_sample.flatten().tolist(),
            }
        )
    return {
        "timesteps_total": timesteps,
        "steps": count,
        "schedule": schedule,
        "timesteps": chosen,
        "checked": steps,
    }


def main():
    out = {
        "generated_by": "bench/reference/ddpm_respacing_reference.py",
        "diffusers": diffusers.__version__,
        "torch": torch.__version__,
        "cases": [case(*c) for c in CASES],
    }
    path = Path("stages/tests/reference/ddpm_respacing.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
