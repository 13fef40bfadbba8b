"""Turns the JSON lines of generators.sh into Markdown tables: per case, Burn (cpu,
wgpu) and PyTorch seconds per training step and sampling images/s, with the ratio
Burn/PyTorch as time (so ≤ 1.0 means Burn is at least as fast), and the parameter
counts of both."""

import datetime
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
threads = sys.argv[2]
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
MEASURES = {
    "train": ("s_per_step", "train, s/step (batch 16)"),
    "sample": ("images_per_s", "sample, images/s (batch 32)"),
}


def case(r):
    return f"{r['model']}{r['size']}"


def case_order(c):
    """ddpm32, gan32, gan64."""
    return (c.rstrip("0123456789"), int(c[len(c.rstrip("0123456789")) :]))


def column(r):
    if r["framework"] == "pytorch":
        return "pytorch"
    return "wgpu" if r["backend"].startswith("wgpu") else "cpu"


def seconds(r):
    """Time per unit (step or image), or None; and whether it is only a bound."""
    key = MEASURES[r["measure"]][0]
    if key in r:
        value, bound = r[key], False
    elif "bound" in r:
        value, bound = r["bound"], True
    else:
        return None, False
    return (value if r["measure"] == "train" else 1.0 / value), bound


def shown(r):
    if r is None:
        return "–"
    key = MEASURES[r["measure"]][0]
    if key in r:
        return f"{r[key]:.4g}"
    if "bound" in r:
        sign = "≤" if r["measure"] == "train" else "≥"
        return f"skipped ({sign} {r['bound']:.3g})"
    return "skipped"


def ratio(r, ref):
    mine, bound = seconds(r) if r else (None, False)
    theirs, _ = seconds(ref) if ref else (None, False)
    if mine is None or theirs is None:
        return "–"
    return f"{'≤ ' if bound else ''}{mine / theirs:.1f}"


timed = [r for r in rows if r["measure"] in MEASURES]
cases = sorted({case(r) for r in timed}, key=case_order)
by = {(case(r), r["measure"], column(r)): r for r in timed}
backends = sorted({f"{r['framework']} {r['backend']}" for r in timed})

print(f"# Generators: training step and sampling, Burn vs PyTorch ({now}, {threads} cores)\n")
print("Backends: " + "; ".join(f"`{b}`" for b in backends) + ".\n")
print(
    "× PyTorch = Burn's time per step or per image / PyTorch's (≤ 1.0: Burn at least as "
    "fast). A skipped cell gives the best single run, setup included: an upper bound on "
    "s/step, a lower bound on images/s.\n"
)
print("| case | measure | PyTorch | Burn cpu | cpu × PyTorch | Burn wgpu | wgpu × PyTorch |")
print("|:---|:---|---:|---:|---:|---:|---:|")
for c in cases:
    for measure, (_, label) in MEASURES.items():
        ref = by.get((c, measure, "pytorch"))
        cpu, wgpu = by.get((c, measure, "cpu")), by.get((c, measure, "wgpu"))
        if not (ref or cpu or wgpu):
            continue
        print(
            f"| {c} | {label} | {shown(ref)} | {shown(cpu)} | {ratio(cpu, ref)} "
            f"| {shown(wgpu)} | {ratio(wgpu, ref)} |"
        )

print("\n## Runs\n")
print("| case | measure | framework / backend | runs | spread | total s | note |")
print("|:---|:---|:---|:---|:---|---:|:---|")
order = list(MEASURES)
for r in sorted(timed, key=lambda r: (case_order(case(r)), order.index(r["measure"]), column(r))):
    if r["framework"] == "pytorch":
        runs = (
            f"{r['steps']} steps after warm-up"
            if r["measure"] == "train"
            else f"3 × {r['images']} images"
        )
    else:
        unit = "steps" if r["measure"] == "train" else "images"
        n1, n2 = r[unit]
        runs = f"{n1} vs {n2} {unit}, {r.get('pairs', 0)} pair(s)"
    spread = "–" if "spread" not in r else f"{r['spread'][0]:.4g}–{r['spread'][1]:.4g}"
    if r["framework"] == "pytorch" and r["measure"] == "train":
        spread = f"median {r['median_s']:.4g}"
    note = f"skipped: {r['skipped']}" if "skipped" in r else ""
    print(
        f"| {case(r)} | {r['measure']} | {r['framework']} {r['backend']} | {runs} "
        f"| {spread} | {r.get('total_s', 0):.1f} | {note} |"
    )

print("\n## Parameter counts\n")
print("| case | network | Burn | PyTorch | equal |")
print("|:---|:---|---:|---:|:---|")
params = {(case(r), r["framework"]): r["params"] for r in rows if r["measure"] == "params"}
for c in sorted({k[0] for k in params}, key=case_order):
    burn, torch = params.get((c, "burn"), {}), params.get((c, "pytorch"), {})
    for net in sorted(set(burn) | set(torch)):
        b, t = burn.get(net), torch.get(net)
        same = "–" if b is None or t is None else "yes" if b == t else "**no**"
        b, t = ("–" if v is None else v for v in (b, t))
        print(f"| {c} | {net} | {b} | {t} | {same} |")
