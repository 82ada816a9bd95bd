"""Turns bench/drift.sh's measurements into bench/results/drift.{json,md}."""
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

work, results = Path(sys.argv[1]), Path(sys.argv[2])
CASES = {"month": "2011 (8,645 rows) vs January 2012 (741 rows), 11 columns",
         "million": "1,000,000 vs 1,000,000 rows, 11 columns"}
BARS = {"month": 100.0, "million": 30.0}


def load(name):
    return json.loads((work / name).read_text())


summary = {"machine": {"cpus": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
                       "python": platform.python_version()}, "cases": {}}
lines = ["# Drift report: Velocast vs Evidently 0.7.23", "",
         "`bench/drift.sh`: both sides read the same CSV files, then make the report (Evidently: "
         "`Report([DataDriftPreset()]).run(current, reference)`; ours: `velocast_drift_report::build`, "
         "what `velocast drift` and the monitor run). Report times are medians over repeats in one "
         "process; peak memory is each process's VmHWM (reading included). Ours tests columns in "
         "parallel on the machine's two cores; the one-core column pins it to a single CPU.", ""]
table = ["| case | Evidently report | ours (2 cores) | speed-up | ours (1 core) | speed-up | bar | "
         "peak memory Evidently / ours | ratio | whole process Evidently / ours |",
         "|---|---|---|---|---|---|---|---|---|---|"]
agreement_lines = []
for case, title in CASES.items():
    evidently, ours, one = load(f"{case}_evidently.json"), load(f"{case}_ours.json"), load(f"{case}_ours_one_core.json")
    process = load(f"{case}_process.json")
    e_median = statistics.median(evidently["report_seconds"])
    o_median = statistics.median(ours["report_seconds"])
    one_median = statistics.median(one["report_seconds"])
    speedup, speedup_one = e_median / o_median, e_median / one_median
    memory_ratio = ours["peak_kib"] / evidently["peak_kib"]
    # Agreement: every column's test and score against Evidently's report.
    worst, same_tests = 0.0, True
    for column, expected in evidently["columns"].items():
        got = ours["columns"][column]
        same_tests &= got["stattest"] == expected["stattest"]
        worst = max(worst, abs(got["drift_score"] - expected["drift_score"]) / abs(expected["drift_score"]))
    agree = same_tests and worst <= 1e-9 and ours["number_of_drifted_columns"] == evidently["number_of_drifted_columns"]
    summary["cases"][case] = {
        "title": title, "evidently_report_seconds": e_median, "ours_report_seconds": o_median,
        "ours_one_core_report_seconds": one_median, "speedup": speedup, "speedup_one_core": speedup_one,
        "bar": BARS[case], "bar_met": speedup >= BARS[case] and speedup_one >= BARS[case],
        "evidently_peak_mib": evidently["peak_kib"] / 1024, "ours_peak_mib": ours["peak_kib"] / 1024,
        "memory_ratio": memory_ratio, "memory_bar_met": memory_ratio <= 0.2,
        "evidently_read_seconds": evidently["read_seconds"], "ours_read_seconds": ours["read_seconds"],
        "process_seconds": {"evidently": statistics.median(process["evidently"]),
                            "ours": statistics.median(process["ours"])},
        "agreement": {"same_tests": same_tests, "largest_relative_difference": worst,
                      "drifted_columns": [evidently["number_of_drifted_columns"], ours["number_of_drifted_columns"]],
                      "agrees": agree},
    }
    s = summary["cases"][case]
    table.append(
        f"| {title} | {e_median * 1000:,.1f} ms | {o_median * 1000:,.2f} ms | **{speedup:,.0f}×** | "
        f"{one_median * 1000:,.2f} ms | **{speedup_one:,.0f}×** | ≥ {BARS[case]:.0f}× {'✓' if s['bar_met'] else '✗'} | "
        f"{s['evidently_peak_mib']:,.0f} / {s['ours_peak_mib']:,.0f} MiB | {memory_ratio:.2f} "
        f"{'✓' if s['memory_bar_met'] else '✗'} (≤ 0.20) | "
        f"{s['process_seconds']['evidently']:,.2f} / {s['process_seconds']['ours']:,.3f} s |")
    agreement_lines.append(
        f"- {title}: same test on every column: {same_tests}; largest relative difference of a score "
        f"{worst:.1e}; drifted columns {evidently['number_of_drifted_columns']} (Evidently) and "
        f"{ours['number_of_drifted_columns']} (ours).")
lines += table + ["", "Reading the CSV files (not in the report times): "
                  + "; ".join(f"{c}: Evidently (pandas) {summary['cases'][c]['evidently_read_seconds']:.3f} s, "
                              f"ours {summary['cases'][c]['ours_read_seconds']:.3f} s" for c in CASES) + ".", "",
                  "Agreement (each side's own report, compared after the run):", ""] + agreement_lines
lines += ["", "Whole process: `velocast drift --json` against `python bench/drift_evidently.py run … 1` "
          "(interpreter start and Evidently's import included, which is most of the month case's time).", ""]
results.mkdir(parents=True, exist_ok=True)
(results / "drift.json").write_text(json.dumps(summary, indent=1) + "\n")
(results / "drift.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
