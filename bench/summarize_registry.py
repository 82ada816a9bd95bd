"""Turns the raw JSON of bench/registry_vs_mlflow.sh into results/registry_vs_mlflow.{json,md}."""

import json
import os
import platform
import sys
from datetime import datetime, timezone

work, out = sys.argv[1], sys.argv[2]
load = lambda name: json.load(open(os.path.join(work, name + ".json")))
ours_register, mlflow_register = load("ours_register"), load("mlflow_register")
ours_read, mlflow_read = load("ours_read"), load("mlflow_read")
watch = load("ours_watch")
memory = load("memory")
result = {
    "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}",
    "mlflow_version": mlflow_register.get("mlflow"),
    "register": {"velocast": ours_register, "mlflow": mlflow_register},
    "read": {"velocast": ours_read, "mlflow": mlflow_read},
    "watch": watch,
    "memory": memory,
    "read_throughput_ratio": ours_read["throughput_rps"] / mlflow_read["throughput_rps"],
}
json.dump(result, open(out + ".json", "w"), indent=2)
f = lambda v: f"{v:,.1f}"
rows = [
    ("Register 1.5 MB model, p50 (ms)", ours_register["register"]["p50_ms"], mlflow_register["register"]["p50_ms"]),
    ("Register 1.5 MB model, p99 (ms)", ours_register["register"]["p99_ms"], mlflow_register["register"]["p99_ms"]),
    ("Download it, p50 (ms)", ours_register["download"]["p50_ms"], mlflow_register["download"]["p50_ms"]),
    ("Download it, p99 (ms)", ours_register["download"]["p99_ms"], mlflow_register["download"]["p99_ms"]),
    (f"Metadata reads, {ours_read['concurrency']} clients: throughput (req/s)", ours_read["throughput_rps"], mlflow_read["throughput_rps"]),
    ("Metadata reads: p50 (ms)", ours_read["p50_ms"], mlflow_read["p50_ms"]),
    ("Metadata reads: p99 (ms)", ours_read["p99_ms"], mlflow_read["p99_ms"]),
    ("Metadata reads: errors", ours_read["errors"], mlflow_read["errors"]),
    ("Server memory after the load (MB)", memory["velocast_peak_rss_kb"] / 1024, memory["mlflow_rss_kb"] / 1024),
]
lines = [
    f"# Registry: Velocast vs MLflow {result['mlflow_version']} ({result['date']}, {result['machine']})",
    "",
    "Both on the same local Postgres, one after the other; the same Rust load generator for the",
    "reads (`services/registry/examples/registry_load.rs`); register/download sequential, 20 times.",
    "MLflow runs `mlflow server` with its defaults and its artifact proxy (`--artifacts-destination`).",
    "Memory: Velocast's peak RSS (one process); MLflow's RSS summed over its process tree (server and workers).",
    "",
    "| | Velocast | MLflow |",
    "|---|---:|---:|",
] + [f"| {name} | {f(a)} | {f(b)} |" for name, a, b in rows] + [
    "",
    f"Metadata read throughput: **{result['read_throughput_ratio']:.1f}x** MLflow's.",
    "",
    f"Alias move to watch event (Velocast, {watch['moves']} moves): p50 {watch['move_to_event']['p50_ms']:.1f} ms, "
    f"p99 {watch['move_to_event']['p99_ms']:.1f} ms, max {watch['move_to_event']['max_ms']:.1f} ms.",
    "",
    "Reproduce: `make bench-registry`.",
]
open(out + ".md", "w").write("\n".join(lines) + "\n")
