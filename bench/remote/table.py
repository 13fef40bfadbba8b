"""Turns the JSON lines of pull.sh into Markdown: time and server-counted requests per tool.

usage: table.py RESULTS.jsonl NODES CORES AUGFLOW_VERSION DVC_VERSION PUSH_SUMMARY
"""

import datetime
import json
import statistics
import sys

results, nodes, cores, augflow_version, dvc_version, push_summary = sys.argv[1:7]
rows = [json.loads(line) for line in open(results) if line.startswith("{")]
tools = sorted({r["tool"] for r in rows})


def spread(values, fmt):
    """median (min–max) of the values, or the single value when they are all equal."""
    med = statistics.median(values)
    if min(values) == max(values):
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}–{fmt(max(values))})"


def seconds(v):
    return f"{v:.2f}"


def count(v):
    return f"{v:g}"


ops = sorted({op for r in rows for op in r["server"]["ops"]})
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
print(f"# Remote pull: {nodes} nodes, one 4 KiB file each ({now}, {cores} cores)\n")
print(f"{augflow_version}; {dvc_version}.\n")
print("Server: s3s-fs on 127.0.0.1 (cache/examples/s3_bench_server.rs); requests counted by")
print("the server. Each pull starts in a fresh project with an empty local cache; wall time of")
print(f"the whole command, median (min–max) over {len(rows) // max(len(tools), 1)} runs per tool,")
print("the order of the tools reversed every other run.\n")
print(f"Push of project A: {push_summary}\n")
header = ["tool", "wall s", "requests"] + ops
print("| " + " | ".join(header) + " |")
print("|:---|" + "---:|" * (len(header) - 1))
for tool in tools:
    mine = [r for r in rows if r["tool"] == tool]
    cells = [
        tool,
        spread([r["seconds"] for r in mine], seconds),
        spread([r["server"]["requests"] for r in mine], count),
    ]
    cells += [spread([r["server"]["ops"].get(op, 0) for r in mine], count) for op in ops]
    print("| " + " | ".join(cells) + " |")
print("\nPer run:\n")
print("| tool | run | wall s | requests | 1-min load average after |")
print("|:---|---:|---:|---:|---:|")
for r in sorted(rows, key=lambda r: (r["tool"], r["run"])):
    print(
        f"| {r['tool']} | {r['run']} | {r['seconds']:.2f} | {r['server']['requests']} "
        f"| {r['load1']} |"
    )
