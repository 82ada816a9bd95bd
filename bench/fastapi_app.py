"""The stack the gateway replaces, at its best, for bench/gateway.sh.

FastAPI + uvicorn (uvloop, httptools) + onnxruntime serving the same ONNX file, with what the
gateway does on every request: PyJWT HS256 verification (exp, iss, aud, the `predict` scope),
a per-subject token-bucket rate limit (`limits`, in memory, the library behind slowapi), and
prometheus_client metrics (a counter and a latency histogram, `/metrics`). Pydantic validates
the same named fields with the same ranges; the features are computed as velocast-features
computes them (bench/gateway.sh checks both servers give the same prediction). Handlers are
`async def` and run ONNX Runtime inline: on one core that beats FastAPI's thread pool for sync
handlers (its best configuration here).

Environment: MODEL (path to model.onnx), VELOCAST_JWT_SECRET.
"""

import datetime as dt
import os
import time

import jwt
import numpy as np
import onnxruntime as ort
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response
from limits import RateLimitItemPerSecond, storage, strategies
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field

SECRET = os.environ["VELOCAST_JWT_SECRET"]
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(os.environ["MODEL"], options, providers=["CPUExecutionProvider"])
INPUT = session.get_inputs()[0].name

limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
QUOTA = RateLimitItemPerSecond(1_000_000)
REQUESTS = Counter("predictions_total", "Predictions", ["status"])
LATENCY = Histogram("prediction_seconds", "Prediction latency")

app = FastAPI()


class Hour(BaseModel):
    timestamp: dt.datetime
    weather: int = Field(ge=1, le=4)
    temperature_c: float = Field(ge=-40, le=50, allow_inf_nan=False)
    feels_like_c: float = Field(ge=-50, le=60, allow_inf_nan=False)
    humidity_pct: float = Field(ge=0, le=100, allow_inf_nan=False)
    wind_speed_kmh: float = Field(ge=0, le=150, allow_inf_nan=False)
    holiday: bool
    model_config = {"extra": "forbid"}


class Batch(BaseModel):
    instances: list[Hour] = Field(min_length=1, max_length=1024)
    model_config = {"extra": "forbid"}


def season(date):
    md = (date.month, date.day)
    if md < (3, 21):
        return 1
    if md < (6, 21):
        return 2
    if md < (9, 23):
        return 3
    if md < (12, 21):
        return 4
    return 1


def features(hour: Hour):
    t = hour.timestamp
    weekday = (t.weekday() + 1) % 7  # 0 Sunday
    working = int(weekday not in (0, 6) and not hour.holiday)
    return [
        season(t), t.year - 2011, t.month, t.hour, int(hour.holiday), weekday, working,
        hour.weather, hour.temperature_c / 41, hour.feels_like_c / 50, hour.humidity_pct / 100,
        hour.wind_speed_kmh / 67, t.hour + 24 * working, int(working and t.hour in (7, 8, 17, 18)),
        t.timetuple().tm_yday,
    ]


async def authorized(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        raise HTTPException(401, "missing token")
    try:
        claims = jwt.decode(header[7:], SECRET, algorithms=["HS256"], audience="velocast",
                            issuer="velocast", options={"require": ["exp", "sub"]})
    except jwt.PyJWTError as error:
        raise HTTPException(401, str(error)) from error
    if "predict" not in claims.get("scope", "").split():
        raise HTTPException(403, "missing scope predict")
    if not limiter.hit(QUOTA, claims["sub"]):
        raise HTTPException(429, "rate limited", headers={"Retry-After": "1"})
    return claims["sub"]


def score(rows):
    return session.run(None, {INPUT: np.asarray(rows, dtype=np.float32)})[0].reshape(-1)


@app.post("/v1/predict")
async def predict_one(hour: Hour, subject: str = Depends(authorized)):
    started = time.perf_counter()
    value = float(score([features(hour)])[0])
    LATENCY.observe(time.perf_counter() - started)
    REQUESTS.labels("2xx").inc()
    return {"prediction": value}


@app.post("/v1/predict_batch")
async def predict_batch(batch: Batch, subject: str = Depends(authorized)):
    started = time.perf_counter()
    values = score([features(hour) for hour in batch.instances]).astype(float).tolist()
    LATENCY.observe(time.perf_counter() - started)
    REQUESTS.labels("2xx").inc()
    return {"predictions": values}


@app.get("/metrics")
async def metrics():
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
