"""Aggregates benchmark runs into bench/results/*.md and *.json (mean, spread, per run)."""

import json
import pathlib
import platform
import statistics
import subprocess
import sys


def stats(values):
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "runs": values,
    }


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, {platform.platform()}, commit {commit}"


def accuracy(out, target):
    result = {"machine": machine()}
    lines = ["# Holdout accuracy over seeds", "", f"Machine: {result['machine']}", "",
             "Default config (50 TPE trials, 3 expanding-window folds of 61 days). Search seeds "
             "vary; the random split is drawn once with split seed 2013.", "",
             "| split | runs | MAE mean ± sd (min–max) | RMSLE mean ± sd | R² mean ± sd | chosen |",
             "|---|---:|---|---|---|---|"]
    for split in ["temporal", "random"]:
        cards = sorted(pathlib.Path(out).glob(f"{split}-*/model_card.json"))
        if not cards:
            continue
        loaded = [json.loads(c.read_text()) for c in cards]
        h = {k: stats([c["holdout"][k] for c in loaded]) for k in ["mae", "rmse", "rmsle", "r2"]}
        chosen = sorted({c["model"]["chosen"] for c in loaded})
        result[split] = {"holdout": h, "rows": loaded[0]["holdout"]["rows"], "chosen": chosen,
                         "seeds": [c["search"]["seed"] for c in loaded]}
        lines.append(f"| {split} | {len(loaded)} | {h['mae']['mean']:.2f} ± {h['mae']['std']:.2f} "
                     f"({h['mae']['min']:.2f}–{h['mae']['max']:.2f}) | {h['rmsle']['mean']:.4f} ± {h['rmsle']['std']:.4f} "
                     f"| {h['r2']['mean']:.4f} ± {h['r2']['std']:.4f} | {', '.join(chosen)} |")
    lines += ["", "Per run (MAE): " + "; ".join(
        f"{s}: " + ", ".join(f"{v:.2f}" for v in result[s]["holdout"]["mae"]["runs"]) for s in ["temporal", "random"] if s in result)]
    write(target, result, lines)


def train(out, target):
    out = pathlib.Path(out)
    runs = {"velocast": [], "lightgbm": []}
    for tool in runs:
        for timing in sorted(out.glob(f"{tool}-*.time")):
            entry = json.loads(timing.read_text().strip().splitlines()[-1])
            run = timing.stem.split("-")[-1]
            if tool == "velocast":
                card = json.loads((out / f"velocast-{run}" / "model_card.json").read_text())
                entry.update(holdout=card["holdout"], steps=card["timings_seconds"],
                             parity=card["parity"]["max_scaled_error"], chosen=card["model"]["chosen"])
            else:
                report = json.loads((out / f"lightgbm-{run}.json").read_text())
                entry.update(holdout=report["holdout"], steps=report["seconds"],
                             parity=report["parity_max_scaled_error"], chosen=report["chosen_objective"])
            runs[tool].append(entry)
    result = {"machine": machine(), "runs": runs,
              "summary": {tool: {"wall_seconds": stats([r["wall_seconds"] for r in rs]),
                                 "max_rss_mb": stats([r["max_rss_kb"] / 1024 for r in rs]),
                                 "holdout_mae": stats([r["holdout"]["mae"] for r in rs])}
                          for tool, rs in runs.items() if rs}}
    s = result["summary"]
    lines = ["# Training pipeline: Velocast vs LightGBM + Optuna", "", f"Machine: {result['machine']}", "",
             "Same job, same budget: load + validate + features, 50 TPE trials with median pruning, "
             "3 expanding-window folds, final fit, ONNX export, parity in ONNX Runtime. Seeds 1..N, "
             "runs alternate. LightGBM uses both cores (num_threads=2); Velocast runs two trials at a time.", "",
             "| tool | runs | wall s mean ± sd (min–max) | peak RSS MB | holdout MAE mean |", "|---|---:|---|---:|---:|"]
    for tool, name in [("velocast", "velocast-trainer"), ("lightgbm", "LightGBM + Optuna")]:
        if tool in s:
            w = s[tool]["wall_seconds"]
            lines.append(f"| {name} | {len(runs[tool])} | {w['mean']:.1f} ± {w['std']:.1f} ({w['min']:.1f}–{w['max']:.1f}) "
                         f"| {s[tool]['max_rss_mb']['mean']:.0f} | {s[tool]['holdout_mae']['mean']:.2f} |")
    if "velocast" in s and "lightgbm" in s:
        lines += ["", f"Speed-up (mean wall time): {s['lightgbm']['wall_seconds']['mean'] / s['velocast']['wall_seconds']['mean']:.2f}x"]
    write(target, result, lines)


def write(target, result, lines):
    pathlib.Path(target + ".json").write_text(json.dumps(result, indent=2) + "\n")
    pathlib.Path(target + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    {"accuracy": accuracy, "train": train}[sys.argv[1]](sys.argv[2], sys.argv[3])
