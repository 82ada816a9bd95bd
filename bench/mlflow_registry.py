"""The MLflow side of bench/registry_vs_mlflow.sh: register and download a model the way an
MLflow user does (a run, its artifact uploaded through the tracking server's artifact proxy, a
model version pointing at it), timed per step, and one version set up for the read benchmark.
Writes one JSON object to --out."""

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time

import mlflow
from mlflow import MlflowClient


def summary(samples):
    samples = sorted(samples)
    pick = lambda q: samples[min(len(samples) - 1, round((len(samples) - 1) * q))]
    return {"count": len(samples), "p50_ms": pick(0.5), "p90_ms": pick(0.9),
            "p99_ms": pick(0.99), "max_ms": samples[-1], "mean_ms": statistics.fmean(samples)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--model", default="bike-demand")
    parser.add_argument("--bytes", type=int, default=1_572_864)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args()
    mlflow.set_tracking_uri(args.tracking_uri)
    client = MlflowClient()
    experiment = client.get_experiment_by_name("bench") or None
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("bench")
    try:
        client.create_registered_model(args.model, description="benchmark")
    except mlflow.exceptions.MlflowException:
        pass
    registers, downloads = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(args.iterations):
            payload = os.urandom(args.bytes)
            path = os.path.join(scratch, "model.onnx")
            with open(path, "wb") as handle:
                handle.write(payload)
            started = time.perf_counter()
            run = client.create_run(experiment_id)
            run_id = run.info.run_id
            client.log_param(run_id, "objective", "poisson")
            client.log_metric(run_id, "holdout_mae", 38.9)
            client.log_artifact(run_id, path, artifact_path="model")
            version = client.create_model_version(
                args.model, source=f"{run.info.artifact_uri}/model", run_id=run_id,
                tags={"stage": "bench", "dataset_sha256": "e03de4ee4ef4dc37", "rows": "17379"})
            client.set_terminated(run_id)
            registers.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            target = os.path.join(scratch, f"download-{i}")
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{args.model}/{version.version}", dst_path=target)
            with open(os.path.join(local, "model.onnx") if os.path.isdir(local) else local, "rb") as handle:
                got = handle.read()
            downloads.append((time.perf_counter() - started) * 1000)
            assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    with open(args.out, "w") as handle:
        json.dump({"bytes": args.bytes, "register": summary(registers),
                   "download": summary(downloads), "mlflow": mlflow.__version__}, handle)


if __name__ == "__main__":
    main()
