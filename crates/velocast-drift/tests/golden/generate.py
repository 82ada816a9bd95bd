"""Writes evidently_0_7_23.json: Evidently 0.7.23's own stat tests on hour.csv, 2011 as the
reference against each month of 2012, for the default pick and every test this crate forces.

    python -m venv venv && venv/bin/pip install "evidently==0.7.23" "pandas<3" scipy
    venv/bin/python crates/velocast-drift/tests/golden/generate.py .velocast/data/hour.csv

Only the JSON is committed; Evidently is needed only to write it again.
"""
import json
import math
import sys
from pathlib import Path

import evidently
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
from evidently.legacy.calculations.stattests.registry import get_stattest, get_registered_stattest
from evidently.legacy.calculations.stattests.z_stattest import proportions_diff_z_stat_ind
from evidently.legacy.core import ColumnType
from scipy.stats import chisquare

assert evidently.__version__ == "0.7.23", evidently.__version__

NUMERICAL = ["temp", "atemp", "hum", "windspeed", "hr", "cnt"]
CATEGORICAL = ["weekday", "weathersit", "season", "holiday", "workingday"]
FORCED = {"numerical": ["wasserstein", "jensenshannon", "psi", "kl_div", "hellinger", "ed"],
          "categorical": ["jensenshannon", "psi", "kl_div", "hellinger", "chisquare"]}
BINARY = ["holiday", "workingday"]


def statistic(name, ref, cur):
    """The statistic behind a p-value, for comparison where the p-value underflows."""
    if name == "chisquare":
        keys = sorted(set(ref.unique()) | set(cur.unique()))
        scale = len(cur) / len(ref)
        observed = [int((cur == k).sum()) for k in keys]
        expected = [int((ref == k).sum()) * scale for k in keys]
        return float(chisquare(observed, expected)[0])
    if name == "z":
        keys = sorted(set(ref.unique()) | set(cur.unique()))
        if len(set(ref.unique())) == 1 and len(set(cur.unique())) == 1 and keys == sorted(set(ref.unique())):
            return 0.0
        return float(proportions_diff_z_stat_ind(ref.apply(lambda x: 0 if x == keys[0] else 1),
                                                 cur.apply(lambda x: 0 if x == keys[0] else 1)))
    return None


def run(test, ref, cur, feature_type):
    outcome = test(ref, cur, feature_type, None)
    result = {"stattest_name": test.name, "drift_score": float(outcome.drift_score),
              "stattest_threshold": float(outcome.actual_threshold), "drift_detected": bool(outcome.drifted)}
    stat = statistic(test.name, ref, cur)
    if stat is not None:
        # JSON has no infinity: a value the reference never showed makes chi-square's infinite.
        result["statistic"] = stat if math.isfinite(stat) else ("inf" if stat > 0 else "-inf")
    return result

data = pd.read_csv(sys.argv[1])


def windows(reference):
    """Every (month of 2012, column) against `reference`, with the column's kind."""
    for month in range(1, 13):
        current = data[(data.yr == 1) & (data.mnth == month)]
        for column in NUMERICAL + CATEGORICAL:
            kind = "numerical" if column in NUMERICAL else "categorical"
            feature_type = ColumnType.Numerical if kind == "numerical" else ColumnType.Categorical
            ref, cur = reference[column], current[column]
            yield month, column, kind, feature_type, ref, cur, get_stattest(ref, cur, feature_type, None)


def case(month, column, kind, reference, ref, tests):
    return {"month": month, "column": column, "kind": kind, "reference": reference,
            "integer": bool(pd.api.types.is_integer_dtype(ref.dtype)), "tests": tests}


cases = []
for month, column, kind, feature_type, ref, cur, default in windows(data[data.yr == 0]):
    results = {}
    forced = FORCED[kind] + (["z"] if column in BINARY else [])
    for name in ["default"] + forced:
        test = default if name == "default" else get_registered_stattest(name, feature_type)
        results[name] = run(test, ref, cur, feature_type)
    cases.append(case(month, column, kind, "2011", ref, results))

# Small references (at most 1,000 rows: chi-square and Z by default): January 2011 against each
# month of 2012, the columns whose default is not K-S.
small = data[(data.yr == 0) & (data.mnth == 1)]
assert len(small) <= 1000
for month, column, kind, feature_type, ref, cur, default in windows(small):
    if default.name != "ks":
        cases.append(case(month, column, kind, "2011-01", ref, {"default": run(default, ref, cur, feature_type)}))

# The same numbers through the public API: `Report.run` with `DataDriftPreset` infers the column
# kinds itself; every column's method and value must be the default test's above, exactly.
# The dataset verdict (DriftedColumnsCount) is kept for the 2011 reference.
METHODS = {"wasserstein": "Wasserstein distance (normed)", "jensenshannon": "Jensen-Shannon distance",
           "chisquare": "chi-square p_value", "z": "Z-test p_value"}
reports = []
for reference_name, reference_rows in [("2011", data[data.yr == 0]), ("2011-01", small)]:
    for month in range(1, 13):
        current = data[(data.yr == 1) & (data.mnth == month)]
        snapshot = Report([DataDriftPreset()]).run(current[NUMERICAL + CATEGORICAL],
                                                   reference_rows[NUMERICAL + CATEGORICAL]).dict()
        for metric in snapshot["metrics"]:
            config = metric["config"]
            if config["type"].endswith("ValueDrift"):
                match = [c for c in cases if c["reference"] == reference_name and c["month"] == month
                         and c["column"] == config["column"]]
                if match:
                    default = match[0]["tests"]["default"]
                    assert config["method"] == METHODS[default["stattest_name"]], (config, default)
                    assert metric["value"] == default["drift_score"], (metric, default)
            elif config["type"].endswith("DriftedColumnsCount") and reference_name == "2011":
                reports.append({"month": month, "number_of_drifted_columns": int(metric["value"]["count"]),
                                "share_of_drifted_columns": metric["value"]["share"],
                                "drift_share": config["drift_share"]})

out = Path(__file__).with_name("evidently_0_7_23.json")
out.write_text(json.dumps({"evidently": evidently.__version__, "reference": "hour.csv yr == 0 (2011), or yr == 0 and mnth == 1 (2011-01)",
                           "current": "hour.csv yr == 1, one month each", "cases": cases,
                           "reports": reports}, indent=1) + "\n")
print(f"{len(cases)} cases written to {out}")
