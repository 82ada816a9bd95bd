"""Writes bench/results/gateway.{json,md} from bench/gateway.sh's measurements, with the
issue's bars checked against them."""

import json
import re
import sys
import datetime as dt
import pathlib
import platform

results_path, gateway_answer, bare_answer, fastapi_answer, metrics_path, native_answer = sys.argv[1:]
rows = [json.loads(line) for line in open(results_path)]
answers = {name: json.loads(text) for name, text in
           [("gateway", gateway_answer), ("gateway-native", native_answer), ("bare", bare_answer),
            ("fastapi", fastapi_answer)]}
values = {name: float(answer["prediction"]) for name, answer in answers.items()}


def get(server, connections, rows_per_request):
    for row in rows:
        if (row["server"], row["connections"], row["rows"]) == (server, connections, rows_per_request):
            return row
    raise KeyError((server, connections, rows_per_request))


# Batch sizes the gateway's sessions ran (micro-batching), from its own metrics.
metrics = open(metrics_path).read()
batch_sum = sum(float(v) for v in re.findall(r'velocast_gateway_batch_rows_sum\{[^}]*\} ([0-9.e+]+)', metrics))
batch_count = sum(float(v) for v in re.findall(r'velocast_gateway_batch_rows_count\{[^}]*\} ([0-9.e+]+)', metrics))

bars = []


def bar(text, value, threshold, higher_is_better=True):
    holds = value >= threshold if higher_is_better else value <= threshold
    bars.append({"bar": text, "measured": round(value, 3), "threshold": threshold, "holds": holds})


for connections in (1, 16):
    bar(f"single-row throughput ≥ 0.8× bare at {connections} connection(s)",
        get("gateway", connections, 1)["requests_per_second"] / get("bare", connections, 1)["requests_per_second"], 0.8)
bar("single-row throughput ≥ 1.2× bare at 64 connections (micro-batching)",
    get("gateway", 64, 1)["requests_per_second"] / get("bare", 64, 1)["requests_per_second"], 1.2)
bar("server CPU per request ≤ 1.3× bare at 16 connections",
    get("gateway", 16, 1)["cpu_us_per_request"] / get("bare", 16, 1)["cpu_us_per_request"], 1.3, False)
bar("p99 at 64 connections ≤ 1/10 of FastAPI's",
    get("gateway", 64, 1)["p99_ms"] / get("fastapi", 64, 1)["p99_ms"], 0.1, False)
bar("256-row batches ≥ 0.9× bare rows/s",
    get("gateway", 16, 256)["rows_per_second"] / get("bare", 16, 256)["rows_per_second"], 0.9)
# Issue 10: the native evaluator behind the same gateway.
bar("backend = native: single-row throughput ≥ 2× bare at 64 connections",
    get("gateway-native", 64, 1)["requests_per_second"] / get("bare", 64, 1)["requests_per_second"], 2.0)

summary = {
    "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    "machine": f"{platform.machine()}, server pinned to CPU 0, oha on CPU 1",
    "same_prediction": values,
    "measurements": rows,
    "gateway_mean_batch_rows": batch_sum / batch_count if batch_count else None,
    "bars": bars,
}
out = pathlib.Path("bench/results")
out.mkdir(parents=True, exist_ok=True)
(out / "gateway.json").write_text(json.dumps(summary, indent=2) + "\n")

lines = [
    "# Gateway (ONNX Runtime and native backends) vs the FastAPI stack and a bare axum + ort handler",
    "",
    f"{summary['date']}; {summary['machine']}; `bench/gateway.sh` (oha, "
    f"{rows[0] and 'same'} trained model `out/model`, same request bodies).",
    "",
    "Prediction for the same hour: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()) + ".",
    "",
    "| server | connections | rows/request | requests/s | rows/s | p50 ms | p99 ms | CPU µs/request | non-200 answers |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
order = ["gateway", "gateway-native", "bare", "fastapi"]
for row in sorted(rows, key=lambda r: (order.index(r["server"]), r["rows"], r["connections"])):
    lines.append(
        f"| {row['server']} | {row['connections']} | {row['rows']} | {row['requests_per_second']:,.0f} | "
        f"{row['rows_per_second']:,.0f} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} | "
        f"{row['cpu_us_per_request']:.1f} | {row['non_200']} |")
lines += ["", "oha stops each run at its deadline; the requests still in flight then (at most one per "
          "connection) are cut by oha itself and are not counted above.",
          "", f"Gateway mean rows per ONNX Runtime call over the run: {summary['gateway_mean_batch_rows']:.2f}.",
          "", "| bar | measured | threshold | holds |", "|---|---:|---:|---|"]
for b in bars:
    lines.append(f"| {b['bar']} | {b['measured']} | {b['threshold']} | {'yes' if b['holds'] else 'NO'} |")
(out / "gateway.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
