"""Writes evidently_0_7_23.json: Evidently 0.7.23's own stat tests on hour.csv, 2011 as the
reference against each month of 2012, for the default pick and every test this crate forces.

    python -m venv venv && venv/bin/pip install "evidently==0.7.23" "pandas<3" scipy
    venv/bin/python crates/velocast-drift/tests/golden/generate.py .velocast/data/hour.csv

Only the JSON is committed; Evidently is needed only to write it again.
"""
import json
import sys
from pathlib import Path

import evidently
import pandas as pd
from evidently.legacy.calculations.stattests.registry import get_stattest, get_registered_stattest
from evidently.legacy.core import ColumnType

assert evidently.__version__ == "0.7.23", evidently.__version__

NUMERICAL = ["temp", "atemp", "hum", "windspeed", "hr", "cnt"]
CATEGORICAL = ["weekday", "weathersit", "season", "holiday", "workingday"]
FORCED = {"numerical": ["wasserstein", "jensenshannon", "psi", "kl_div", "hellinger", "ed"],
          "categorical": ["jensenshannon", "psi", "kl_div", "hellinger"]}

data = pd.read_csv(sys.argv[1])
reference = data[data.yr == 0]
cases = []
for month in range(1, 13):
    current = data[(data.yr == 1) & (data.mnth == month)]
    for column in NUMERICAL + CATEGORICAL:
        kind = "numerical" if column in NUMERICAL else "categorical"
        feature_type = ColumnType.Numerical if kind == "numerical" else ColumnType.Categorical
        ref, cur = reference[column], current[column]
        default = get_stattest(ref, cur, feature_type, None)
        results = {}
        for name in ["default"] + FORCED[kind]:
            test = default if name == "default" else get_registered_stattest(name, feature_type)
            outcome = test(ref, cur, feature_type, None)
            results[name] = {"stattest_name": test.name, "drift_score": float(outcome.drift_score),
                             "stattest_threshold": float(outcome.actual_threshold),
                             "drift_detected": bool(outcome.drifted)}
        cases.append({"month": month, "column": column, "kind": kind,
                      "integer": bool(pd.api.types.is_integer_dtype(ref.dtype)), "tests": results})

out = Path(__file__).with_name("evidently_0_7_23.json")
out.write_text(json.dumps({"evidently": evidently.__version__, "reference": "hour.csv yr == 0",
                           "current": "hour.csv yr == 1, one month each", "cases": cases}, indent=1) + "\n")
print(f"{len(cases)} cases written to {out}")
