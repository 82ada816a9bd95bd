"""The Python stack Velocast replaces, doing the trainer's default job with the same budget.

load hour.csv -> validate -> the same 15 features -> temporal split (2012-09-01) -> 50 Optuna
TPE trials over LightGBM (objectives regression / log1p regression / poisson, the same ranges),
each scored by the same 3 expanding-window folds of 61 days with MedianPruner after each fold
-> final fit -> ONNX export (onnxmltools) -> parity in ONNX Runtime on the holdout.

Prints one JSON line with step timings and holdout metrics. Benchmark only: not part of the
product and not run by the tests.
"""

import argparse
import json
import math
import sys
import time

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd

FEATURES = [
    "season", "yr", "mnth", "hr", "holiday", "weekday", "workingday", "weathersit",
    "temp", "atemp", "hum", "windspeed", "hr_workingday", "rush_hour", "day_of_year",
]


def load_and_validate(path):
    df = pd.read_csv(path, parse_dates=["dteday"])
    problems = []
    if df.isnull().any().any():
        problems.append("missing values")
    for column, low, high in [("season", 1, 4), ("mnth", 1, 12), ("hr", 0, 23), ("weathersit", 1, 4),
                              ("temp", 0, 1), ("atemp", 0, 1), ("hum", 0, 1), ("windspeed", 0, 1)]:
        if not df[column].between(low, high).all():
            problems.append(f"{column} out of range")
    df["timestamp"] = df["dteday"] + pd.to_timedelta(df["hr"], unit="h")
    if df["timestamp"].duplicated().any():
        problems.append("duplicate hours")
    if (df["cnt"] < 0).any():
        problems.append("negative target")
    if problems:
        sys.exit("quality check failed: " + ", ".join(problems))
    df["hr_workingday"] = df["hr"] + 24 * df["workingday"]
    df["rush_hour"] = ((df["workingday"] == 1) & df["hr"].isin([7, 8, 17, 18])).astype(int)
    df["day_of_year"] = df["dteday"].dt.day_of_year
    return df.sort_values("timestamp").reset_index(drop=True)


def expanding_folds(train, folds=3, days=61):
    end = train["timestamp"].max() + pd.Timedelta(hours=1)
    out = []
    for k in reversed(range(folds)):
        v_end = end - pd.Timedelta(days=days * k)
        v_start = v_end - pd.Timedelta(days=days)
        tr = np.flatnonzero(train["timestamp"] < v_start)
        va = np.flatnonzero((train["timestamp"] >= v_start) & (train["timestamp"] < v_end))
        out.append((tr, va))
    return out


def fit(params, objective, x, y, rounds):
    label = np.log1p(y) if objective == "log1p" else y
    lgb_objective = {"raw": "regression", "log1p": "regression", "poisson": "poisson"}[objective]
    booster = lgb.train({**params, "objective": lgb_objective, "verbose": -1},
                        lgb.Dataset(x, label), num_boost_round=rounds)
    return booster


def predict(booster, objective, x):
    p = booster.predict(x)
    return np.maximum(np.expm1(p) if objective == "log1p" else p, 0)


def metrics(pred, actual):
    pred = np.maximum(pred, 0)
    return {
        "mae": float(np.mean(np.abs(pred - actual))),
        "rmse": float(np.sqrt(np.mean((pred - actual) ** 2))),
        "rmsle": float(np.sqrt(np.mean((np.log1p(pred) - np.log1p(actual)) ** 2))),
        "r2": float(1 - np.sum((pred - actual) ** 2) / np.sum((actual - actual.mean()) ** 2)),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    timings = {}
    started = last = time.perf_counter()

    def lap(step):
        nonlocal last
        now = time.perf_counter()
        timings[step] = now - last
        last = now

    df = load_and_validate(args.data)
    lap("load_validate_features")
    cutoff = pd.Timestamp("2012-09-01")
    train, holdout = df[df["timestamp"] < cutoff].reset_index(drop=True), df[df["timestamp"] >= cutoff]
    x_train = train[FEATURES].to_numpy(np.float32)
    y_train = train["cnt"].to_numpy(float)
    folds = expanding_folds(train)

    def objective_fn(trial):
        objective = trial.suggest_categorical("objective", ["raw", "log1p", "poisson"])
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.15, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 15, 63),
            "max_depth": trial.suggest_categorical("max_depth", [-1, 8, 10]),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 50, log=True),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.6, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.6, 1.0),
            "bagging_freq": 1,
            "max_bin": trial.suggest_categorical("max_bin", [63, 127, 255]),
            "num_threads": args.threads,
            "seed": args.seed * 1_000_003 + trial.number,
        }
        rounds = trial.suggest_int("rounds", 200, 600)
        scores = []
        for step, (tr, va) in enumerate(folds):
            booster = fit(params, objective, x_train[tr], y_train[tr], rounds)
            scores.append(metrics(predict(booster, objective, x_train[va]), y_train[va])["mae"])
            trial.report(scores[-1], step)
            if step < len(folds) - 1 and trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=args.seed, n_startup_trials=12),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=6, n_warmup_steps=0),
    )
    study.optimize(objective_fn, n_trials=args.trials)
    lap("search")

    best = dict(study.best_params)
    objective = best.pop("objective")
    rounds = best.pop("rounds")
    params = {**best, "bagging_freq": 1, "num_threads": args.threads, "seed": args.seed}
    booster = fit(params, objective, x_train, y_train, rounds)
    x_holdout = holdout[FEATURES].to_numpy(np.float32)
    native = predict(booster, objective, x_holdout)
    scores = metrics(native, holdout["cnt"].to_numpy(float))
    lap("final_fit")

    parity = None
    try:
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
        import onnxruntime as ort

        onnx_model = onnxmltools.convert_lightgbm(
            booster, initial_types=[("features", FloatTensorType([None, len(FEATURES)]))], target_opset=15)
        payload = onnx_model.SerializeToString()
        lap("export")
        session = ort.InferenceSession(payload, providers=["CPUExecutionProvider"])
        raw = session.run(None, {"features": x_holdout})[0].ravel()
        # onnxmltools applies Poisson's exp itself; the log1p target needs its inverse here.
        served = np.maximum(np.expm1(raw) if objective == "log1p" else raw, 0)
        parity = float(np.max(np.abs(served - native) / np.maximum(1, np.abs(native))))
        lap("parity")
    except ImportError as error:
        timings["export"] = timings["parity"] = float("nan")
        print(f"export skipped: {error}", file=sys.stderr)

    print(json.dumps({
        "tool": "lightgbm+optuna",
        "lightgbm": lgb.__version__,
        "optuna": optuna.__version__,
        "trials": len(study.trials),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "chosen_objective": objective,
        "holdout": scores,
        "parity_max_scaled_error": parity,
        "seconds": {k: round(v, 3) for k, v in timings.items()},
        "wall_seconds": round(time.perf_counter() - started, 3),
    }))


if __name__ == "__main__":
    main()
