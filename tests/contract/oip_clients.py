"""The gateway's Open Inference Protocol v2, spoken by the clients users have: tritonclient[http]
and kserve's InferenceRESTClient, unmodified, against a live gateway serving the constant test
model (it predicts 7 for every hour). Run by tests/contract/gateway.sh:

    oip_clients.py <gateway-url> <token with predict and models:read>

Exits non-zero on the first answer that is not what the protocol and the model say.
"""

import asyncio
import json
import sys

import numpy as np
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException
from kserve import InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import InferInput, InferRequest

base, token = sys.argv[1], sys.argv[2]


# tritonclient adds `Inference-Header-Content-Length` to the caller's headers dict when it sends
# binary data and never removes it, so one dict reused across calls would send a stale length
# with a later JSON-only request. Each call gets its own dict, as separate call sites would.
def auth():
    return {"Authorization": f"Bearer {token}"}

EXPECTED = 7.0
HOUR = [4, 1, 10, 8, 0, 1, 1, 1, 0.44, 0.36, 0.6, 0.15, 32, 1, 275]  # a valid feature row
checks = 0


def check(condition, what):
    global checks
    if not condition:
        sys.exit(f"oip: FAILED: {what}")
    checks += 1


# --- tritonclient[http] ---------------------------------------------------------------------
client = triton.InferenceServerClient(url=base.removeprefix("http://"))
check(client.is_server_live(headers=auth()), "tritonclient: server live")
check(client.is_server_ready(headers=auth()), "tritonclient: server ready")
server = client.get_server_metadata(headers=auth())
check(server["name"] == "velocast-gateway" and "binary_tensor_data" in server["extensions"], f"server metadata {server}")
metadata = client.get_model_metadata("default", headers=auth())
check(metadata["inputs"][0] == {"name": "features", "datatype": "FP32", "shape": [-1, 15]}, f"model metadata {metadata}")
check(metadata["outputs"][0]["name"] == "demand", f"model outputs {metadata}")
version = metadata["versions"][0]
check(client.is_model_ready("default", headers=auth()), "model ready")
check(client.is_model_ready("default", model_version=version, headers=auth()), "version ready")
check(not client.is_model_ready("default", model_version="999", headers=auth()), "an unserved version is not ready")
check(client.get_model_metadata("bike-demand", model_version=version, headers=auth())["name"] == "bike-demand",
      "metadata by model name and version")

rows = np.array([HOUR, HOUR, HOUR], dtype=np.float32)
for binary_in in (True, False):
    for binary_out in (True, False):
        features = triton.InferInput("features", list(rows.shape), "FP32")
        features.set_data_from_numpy(rows, binary_data=binary_in)
        output = triton.InferRequestedOutput("demand", binary_data=binary_out)
        result = client.infer("default", [features], outputs=[output], request_id="r-1", headers=auth())
        demand = result.as_numpy("demand")
        check(demand.shape == (3, 1) and np.allclose(demand, EXPECTED), f"tritonclient infer in={binary_in} out={binary_out}: {demand}")
        check(result.get_response()["id"] == "r-1" and result.get_response()["model_version"] == version,
              f"response id and version: {result.get_response()}")

# Named fields as tensors, BYTES timestamps, on one version.
def named(n, binary):
    tensors = []
    columns = {
        "timestamp": (np.array([b"2012-10-01T08:00:00"] * n, dtype=np.object_), "BYTES"),
        "weather": (np.array([1] * n, dtype=np.int32), "INT32"),
        "temperature_c": (np.array([18.0] * n, dtype=np.float32), "FP32"),
        "feels_like_c": (np.array([18.0] * n, dtype=np.float32), "FP32"),
        "humidity_pct": (np.array([60.0] * n, dtype=np.float32), "FP32"),
        "wind_speed_kmh": (np.array([10.0] * n, dtype=np.float32), "FP32"),
        "holiday": (np.array([False] * n, dtype=np.bool_), "BOOL"),
    }
    for name, (values, datatype) in columns.items():
        tensor = triton.InferInput(name, [n], datatype)
        tensor.set_data_from_numpy(values, binary_data=binary)
        tensors.append(tensor)
    return tensors

for binary in (True, False):
    result = client.infer("default", named(2, binary), model_version=version, headers=auth())
    check(np.allclose(result.as_numpy("demand"), EXPECTED), f"named fields binary={binary}")

# JSON requests in one BYTES tensor.
hour = {"timestamp": "2012-10-01T08:00:00", "weather": 1, "temperature_c": 18, "feels_like_c": 18,
        "humidity_pct": 60, "wind_speed_kmh": 10, "holiday": False}
instances = triton.InferInput("instances", [2], "BYTES")
instances.set_data_from_numpy(np.array([json.dumps(hour).encode()] * 2, dtype=np.object_), binary_data=False)
check(np.allclose(client.infer("default", [instances], headers=auth()).as_numpy("demand"), EXPECTED), "JSON rows")

# Errors arrive as the protocol's {"error": ...} and the client raises with its message.
def refused(call, fragment):
    try:
        call()
    except InferenceServerException as error:
        check(fragment in str(error), f"error message {error!s} lacks {fragment!r}")
        return
    sys.exit(f"oip: FAILED: expected a refusal containing {fragment!r}")

bad = rows.copy()
bad[1, 10] = 7.0  # humidity far outside 0..1
features = triton.InferInput("features", list(bad.shape), "FP32")
features.set_data_from_numpy(bad, binary_data=False)
refused(lambda: client.infer("default", [features], headers=auth()), "hum")
features = triton.InferInput("features", [1, 15], "FP32")
features.set_data_from_numpy(rows[:1], binary_data=True)
refused(lambda: client.infer("default", [features], outputs=[triton.InferRequestedOutput("probabilities")], headers=auth()),
        "unknown output")
refused(lambda: client.infer("no-such-model", [features], headers=auth()), "no route or served model")
refused(lambda: client.infer("default", [features], headers={}), "token")
client.close()

# --- kserve InferenceRESTClient ---------------------------------------------------------------
async def kserve_checks():
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=10, retries=0))
    check(await client.is_server_live(base, headers=auth()), "kserve: server live")
    check(await client.is_server_ready(base, headers=auth()), "kserve: server ready")
    check(await client.is_model_ready(base, "default", headers=auth()), "kserve: model ready")
    request = InferRequest(
        model_name="default",
        infer_inputs=[InferInput(name="features", shape=[2, 15], datatype="FP32", data=[HOUR, HOUR])],
        request_id="k-1",
    )
    response = await client.infer(base, request, model_name="default", headers=auth())
    output = response.outputs[0]
    check(output.name == "demand" and output.shape == [2, 1], f"kserve output {output}")
    check(np.allclose(np.array(output.data, dtype=np.float32), EXPECTED), f"kserve values {output.data}")
    check(response.id == "k-1", f"kserve id {response.id}")
    # A dict body, as some callers send it.
    response = await client.infer(base, {"inputs": [{"name": "features", "shape": [1, 15], "datatype": "FP32", "data": HOUR}]},
                                  model_name="bike-demand", headers=auth())
    check(np.allclose(np.array(response.outputs[0].data, dtype=np.float32), EXPECTED), "kserve dict body")
    try:
        await client.infer(base, {"inputs": [{"name": "features", "shape": [1, 14], "datatype": "FP32", "data": HOUR[:14]}]},
                           model_name="default", headers=auth())
        sys.exit("oip: FAILED: kserve: a [1, 14] tensor was accepted")
    except Exception as error:  # kserve raises httpx.HTTPStatusError with the body
        check("400" in str(error) or "shape" in str(error), f"kserve refusal {error}")
    await client.close()

asyncio.run(kserve_checks())
print(f"oip: tritonclient {triton.__name__} and kserve clients: {checks} checks passed")
