"""Markdown tables for bench/gpu.sh from the JSON lines its harnesses print (Burn's
stages/benches/{train_step,generator_step}.rs and bench/torch/{train_step,generator_step}.py)
plus the lines gpu.sh writes itself (memory check, quickstart).

Usage: gpu_table.py RESULTS.jsonl MACHINE-DESCRIPTION"""

import json
import sys


def backend_label(row):
    if row["framework"] == "pytorch":
        return "PyTorch " + row["backend"].split("-")[0]
    return "Burn " + row["backend"].split(":")[0]


def fmt(value, digits=4):
    return "—" if value is None else f"{value:.{digits}g}"


def main():
    path, machine = sys.argv[1], sys.argv[2]
    rows = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    print(f"# GPU benchmark ({machine})\n")

    steps = [r for r in rows if "median_s" in r and "measure" not in r]
    if steps:
        print("## Classifier training step (Adam, cross-entropy, 5 classes)\n")
        print("| model | px | batch | backend | s/step | × PyTorch | reserved MiB |")
        print("|---|---|---|---|---|---|---|")
        torch = {
            (r["model"], r["size"], r["batch"]): r["median_s"]
            for r in steps
            if r["framework"] == "pytorch"
        }
        for r in sorted(steps, key=lambda r: (r["model"], r["size"], r["batch"], backend_label(r))):
            ref = torch.get((r["model"], r["size"], r["batch"]))
            ratio = "" if ref is None or r["framework"] == "pytorch" else f"{r['median_s'] / ref:.2f}"
            print(
                f"| {r['model']} | {r['size']} | {r['batch']} | {backend_label(r)} | "
                f"{fmt(r['median_s'])} | {ratio} | {r.get('mem_reserved_mib', '—')} |"
            )
        print()

    generators = [r for r in rows if r.get("measure") in ("train", "sample")]
    if generators:
        print("## Generators (DDPM U-Net, GAN): training step and sampling\n")
        print("| model | px | measure | backend | value | reserved MiB |")
        print("|---|---|---|---|---|---|")
        for r in sorted(generators, key=lambda r: (r["model"], r["size"], r["measure"], backend_label(r))):
            if r["measure"] == "train":
                value = f"{fmt(r.get('s_per_step'))} s/step"
            else:
                value = f"{fmt(r.get('images_per_s'))} images/s"
            if "skipped" in r:
                value = f"skipped: {r['skipped']}"
            print(
                f"| {r['model']} | {r['size']} | {r['measure']} | {backend_label(r)} | "
                f"{value} | {r.get('mem_reserved_mib', '—')} |"
            )
        print()

    checks = [r for r in rows if r.get("check")]
    if checks:
        print("## End to end\n")
        print("| check | result |")
        print("|---|---|")
        for r in checks:
            print(f"| {r['check']} | {r['result']} |")
        print()


if __name__ == "__main__":
    main()
