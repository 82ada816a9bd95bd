"""Evidently's side of bench/drift.sh, and the data it runs on.

    python drift_evidently.py prepare hour.csv out_dir        # writes the two cases' CSV files
    python drift_evidently.py run ref.csv cur.csv repeats     # one JSON line on stdout

`run` reads both files with pandas, then times `Report([DataDriftPreset()]).run(current,
reference)` `repeats` times (the first run included: Evidently has no separate warm-up), and
reports the process's peak resident memory (VmHWM, the same number the Rust side reads) and
each column's method and score from the report, for the agreement check.
"""
import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

COLUMNS = ["temp", "atemp", "hum", "windspeed", "hr", "weekday", "weathersit", "season", "holiday",
           "workingday", "cnt"]
METHODS = {"Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon",
           "chi-square p_value": "chisquare", "Z-test p_value": "z", "K-S p_value": "ks"}


def peak_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def prepare(hour_csv, out_dir):
    data = pd.read_csv(hour_csv)
    reference = data[data.yr == 0][COLUMNS]
    reference.to_csv(f"{out_dir}/month_reference.csv", index=False)
    data[(data.yr == 1) & (data.mnth == 1)][COLUMNS].to_csv(f"{out_dir}/month_current.csv", index=False)
    # 1 M rows each: 2011's rows and 2012's rows drawn with replacement (seeded).
    rng = np.random.default_rng(20121)
    current = data[data.yr == 1][COLUMNS]
    reference.iloc[rng.integers(0, len(reference), 1_000_000)].to_csv(f"{out_dir}/million_reference.csv", index=False)
    current.iloc[rng.integers(0, len(current), 1_000_000)].to_csv(f"{out_dir}/million_current.csv", index=False)


def run(reference_csv, current_csv, repeats):
    warnings.simplefilter("ignore")
    from evidently import Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    reference = pd.read_csv(reference_csv)
    current = pd.read_csv(current_csv)
    read_seconds = time.perf_counter() - started
    seconds = []
    snapshot = None
    for _ in range(repeats):
        started = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current, reference)
        seconds.append(time.perf_counter() - started)
    columns, drifted = {}, None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            columns[config["column"]] = {"stattest": METHODS.get(config["method"], config["method"]),
                                         "drift_score": metric["value"]}
        elif config["type"].endswith("DriftedColumnsCount"):
            drifted = int(metric["value"]["count"])
    print(json.dumps({"read_seconds": read_seconds, "report_seconds": seconds, "peak_kib": peak_kib(),
                      "number_of_drifted_columns": drifted, "columns": columns}))


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    else:
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]))
