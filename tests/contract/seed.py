"""Seeds a registry for the contract run: a model and a run, so that positive cases reach data
as well as 404s. Usage: seed.py BASE_URL TOKEN"""
import json
import sys
import urllib.request

base, token = sys.argv[1], sys.argv[2]


def post(path, body):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status


post("/v1/models", {"name": "bike-demand", "description": "seeded", "tags": {"team": "ops"}})
post("/v1/runs", {"id": "seeded-run", "model": "bike-demand", "params": {"trials": 1}})
