"""Turns the JSON lines of run.sh into a Markdown table with ratios to PyTorch."""

import datetime
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
threads = sys.argv[2]
profile = sys.argv[3] if len(sys.argv) > 3 else "dev"
torch_times = {
    (r["model"], r["size"]): r["median_s"] for r in rows if r["framework"] == "pytorch"
}
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
print(f"# Training step, batch 8, 1 channel, 5 classes ({now}, {threads} cores)\n")
print("Median seconds per Adam step after one warm-up step; ratio = time / PyTorch's.")
print(f"Burn built with cargo's `{profile}` profile.\n")
print("| model | size | framework / backend | s/step | steps | × PyTorch |")
print("|:---|---:|:---|---:|---:|---:|")
for r in sorted(rows, key=lambda r: (r["model"], r["size"], r["framework"] != "pytorch")):
    ref = torch_times.get((r["model"], r["size"]))
    ratio = f"{r['median_s'] / ref:.1f}" if ref else "–"
    print(
        f"| {r['model']} | {r['size']} | {r['framework']} {r['backend']} "
        f"| {r['median_s']:.3f} | {r['steps']} | {ratio} |"
    )
