"""Writes evidently_0_7_23.json: Evidently 0.7.23's own stat tests on hour.csv, 2011 as the
reference against each month of 2012, for the default pick and every test this crate forces;
small references (January 2011) for K-S (exact, equal and unequal sizes, and asymptotic against
more than 10,000 rows), chi-square and Z; and edge cases on made-up values.

Windows are named by selectors the Rust test reads back: `2011`, `2012-09` (year, month),
`all`, `every:18` (every 18th row), with an optional `[:N]` (the first N rows).

    python -m venv venv && venv/bin/pip install "evidently==0.7.23" "pandas<3" scipy
    venv/bin/python crates/velocast-drift/tests/golden/generate.py .velocast/data/hour.csv

Only the JSON is committed; Evidently is needed only to write it again.
"""
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy

import evidently
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
from evidently.legacy.calculations.stattests.registry import get_stattest, get_registered_stattest
from evidently.legacy.calculations.stattests.z_stattest import proportions_diff_z_stat_ind
from evidently.legacy.core import ColumnType
from evidently.legacy.calculations.stattests.cramer_von_mises_stattest import _cvm_2samp
from scipy.stats import anderson_ksamp, chisquare, ks_2samp

# anderson_ksamp warns on every call about its capped p-value and a renamed parameter.
warnings.simplefilter("ignore")

assert evidently.__version__ == "0.7.23", evidently.__version__

NUMERICAL = ["temp", "atemp", "hum", "windspeed", "hr", "cnt"]
CATEGORICAL = ["weekday", "weathersit", "season", "holiday", "workingday"]
RANK = ["ks", "anderson", "cramer_von_mises"]
FORCED = {"numerical": ["wasserstein", "jensenshannon", "psi", "kl_div", "hellinger", "ed"] + RANK,
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
    if name == "ks":
        return float(ks_2samp(ref, cur).statistic)
    if name == "anderson":
        return float(anderson_ksamp([ref.values, cur.values]).statistic)
    if name == "cramer_von_mises":
        return float(_cvm_2samp(ref.to_numpy(), cur.to_numpy()).statistic)
    return None


def run(test, ref, cur, feature_type):
    outcome = test(ref, cur, feature_type, None)
    score = float(outcome.drift_score)
    # JSON has no NaN (chi-square of a single category in both windows gives one).
    result = {"stattest_name": test.name, "drift_score": "nan" if math.isnan(score) else score,
              "stattest_threshold": float(outcome.actual_threshold), "drift_detected": bool(outcome.drifted)}
    stat = statistic(test.name, ref, cur)
    if stat is not None:
        # JSON has no infinity: a value the reference never showed makes chi-square's infinite.
        result["statistic"] = stat if math.isfinite(stat) else ("inf" if stat > 0 else "-inf")
    return result

data = pd.read_csv(sys.argv[1])


def select(selector):
    """The rows a selector names (see the module's docstring)."""
    head = None
    if "[:" in selector:
        selector, head = selector[:-1].split("[:")
    if selector == "all":
        rows = data
    elif selector.startswith("every:"):
        rows = data.iloc[::int(selector.split(":")[1])]
    elif "-" in selector:
        year, month = selector.split("-")
        rows = data[(data.yr == int(year) - 2011) & (data.mnth == int(month))]
    else:
        rows = data[data.yr == int(selector) - 2011]
    return rows if head is None else rows.head(int(head))


def windows(reference, currents, columns=NUMERICAL + CATEGORICAL):
    """Every (current selector, column) against `reference`, with the column's kind."""
    for current in currents:
        for column in columns:
            kind = "numerical" if column in NUMERICAL else "categorical"
            feature_type = ColumnType.Numerical if kind == "numerical" else ColumnType.Categorical
            ref, cur = select(reference)[column], select(current)[column]
            yield current, column, kind, feature_type, ref, cur, get_stattest(ref, cur, feature_type, None)


def case(current, column, kind, reference, ref, tests):
    return {"current": current, "column": column, "kind": kind, "reference": reference,
            "integer": bool(pd.api.types.is_integer_dtype(ref.dtype)), "tests": tests}


MONTHS = [f"2012-{month:02}" for month in range(1, 13)]
cases = []
for current, column, kind, feature_type, ref, cur, default in windows("2011", MONTHS):
    results = {}
    forced = FORCED[kind] + (["z"] if column in BINARY else [])
    for name in ["default"] + forced:
        test = default if name == "default" else get_registered_stattest(name, feature_type)
        results[name] = run(test, ref, cur, feature_type)
    cases.append(case(current, column, kind, "2011", ref, results))

# Small references (at most 1,000 rows: K-S, chi-square and Z by default): January 2011 against
# each month of 2012 (K-S exact, unequal sizes); its first 600 rows against the first 600 of
# each month (K-S exact, equal sizes); January 2011 and every 18th row against all 17,379 rows
# (more than 10,000: K-S asymptotic), with the rank tests forced too.
small = select("2011-01")
assert len(small) <= 1000
for reference, currents in [("2011-01", MONTHS), ("2011-01[:600]", [m + "[:600]" for m in MONTHS]),
                            ("2011-01", ["all"]), ("every:18", ["all"])]:
    for current, column, kind, feature_type, ref, cur, default in windows(reference, currents):
        results = {"default": run(default, ref, cur, feature_type)}
        if kind == "numerical" and not currents[0].startswith("2012"):
            for name in RANK:
                results[name] = run(get_registered_stattest(name, feature_type), ref, cur, feature_type)
        cases.append(case(current, column, kind, reference, ref, results))

# Edge cases on made-up values: a category the reference never showed (chi-square's statistic
# is infinite), constant columns, a sample small enough for the exact Cramér-von Mises, and
# tests Evidently refuses (its error is kept: ours must be an error too).
def edge(name, ref, cur, kind, tests):
    ref, cur = pd.Series(ref), pd.Series(cur)
    feature_type = ColumnType.Numerical if kind == "numerical" else ColumnType.Categorical
    results = {}
    for test_name in tests:
        test = get_stattest(ref, cur, feature_type, None) if test_name == "default" else \
            get_registered_stattest(test_name, feature_type)
        try:
            results[test_name] = run(test, ref, cur, feature_type)
        except Exception as error:  # noqa: BLE001 — the golden keeps that Evidently refused
            results[test_name] = {"error": f"{type(error).__name__}: {error}"}
    return {"name": name, "kind": kind, "integer": bool(pd.api.types.is_integer_dtype(ref.dtype)),
            "reference_values": ref.tolist(), "current_values": cur.tolist(), "tests": results}


temperatures = data.temp.tolist()
edges = [
    edge("a category absent from the reference", [1, 1, 2, 2, 3] * 100, [1, 2, 3, 4] * 50, "categorical",
         ["default", "chisquare", "jensenshannon", "psi", "kl_div", "hellinger"]),
    edge("a category absent from a large reference", [1, 2, 2, 3] * 400, [1, 2, 3, 4] * 50, "categorical",
         ["default", "chisquare", "psi", "kl_div"]),
    edge("constant in both, large reference", [5.0] * 1200, [5.0] * 300, "numerical",
         ["default", "wasserstein", "psi", "ks", "anderson", "cramer_von_mises"]),
    edge("constant in both, small reference", [1] * 500, [1] * 100, "categorical", ["default", "chisquare"]),
    edge("constant reference, varying current", [0.5] * 400, temperatures[:120], "numerical",
         ["default", "ks", "anderson", "cramer_von_mises"]),
    edge("exact Cramér-von Mises", temperatures[:15], temperatures[4000:4012], "numerical",
         ["default", "ks", "anderson", "cramer_von_mises"]),
    edge("exact Cramér-von Mises, ties", [1.0, 2, 2, 3, 3, 3, 4, 5], [2.0, 3, 3, 4, 6, 6], "numerical",
         ["ks", "anderson", "cramer_von_mises"]),
]

# The same numbers through the public API: `Report.run` with `DataDriftPreset` infers the column
# kinds itself; every column's method and value must be the default test's above, exactly.
# The dataset verdict (DriftedColumnsCount) is kept for the 2011 reference.
METHODS = {"wasserstein": "Wasserstein distance (normed)", "jensenshannon": "Jensen-Shannon distance",
           "chisquare": "chi-square p_value", "z": "Z-test p_value", "ks": "K-S p_value"}
reports = []
for reference_name, reference_rows in [("2011", data[data.yr == 0]), ("2011-01", small)]:
    for month, selector in enumerate(MONTHS, start=1):
        current = select(selector)
        snapshot = Report([DataDriftPreset()]).run(current[NUMERICAL + CATEGORICAL],
                                                   reference_rows[NUMERICAL + CATEGORICAL]).dict()
        for metric in snapshot["metrics"]:
            config = metric["config"]
            if config["type"].endswith("ValueDrift"):
                match = [c for c in cases if c["reference"] == reference_name and c["current"] == selector
                         and c["column"] == config["column"]]
                if match:
                    default = match[0]["tests"]["default"]
                    assert config["method"] == METHODS[default["stattest_name"]], (config, default)
                    assert metric["value"] == default["drift_score"], (metric, default)
            elif config["type"].endswith("DriftedColumnsCount") and reference_name == "2011":
                reports.append({"current": selector, "number_of_drifted_columns": int(metric["value"]["count"]),
                                "share_of_drifted_columns": metric["value"]["share"],
                                "drift_share": config["drift_share"]})

out = Path(__file__).with_name("evidently_0_7_23.json")
out.write_text(json.dumps({"evidently": evidently.__version__, "scipy": scipy.__version__,
                           "numpy": np.__version__, "windows": "hour.csv rows by selector (see generate.py)",
                           "cases": cases, "edges": edges, "reports": reports}, indent=1) + "\n")
print(f"{len(cases)} cases written to {out}")
