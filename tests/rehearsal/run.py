"""The rollout rehearsal: the platform as the prod overlay deploys it, each pod its own host in a
network namespace on one bridge (10.77.0.0/24, nothing routed off the machine), configured from
the ConfigMaps, Secrets, probes, preStop pauses and grace periods `kubectl kustomize
k8s/overlays/prod` renders, so the manifests are what is tested. Secrets are generated here (an
Ed25519 key set and the tokens it signs; database URLs), as `kubectl create secret` would bring
them. A front on 10.77.0.5 plays the Services: HTTP round-robin over the gateway pods that pass
their readiness probe and are not terminating (as an ingress controller does), TCP round-robin
over the registry pods (kube-proxy).

Under constant load (load.py) it runs, in order:
  1. a rolling update of the gateway as Kubernetes does it with maxSurge 1, maxUnavailable 0:
     start a new pod, wait until it is ready, take the old one out of the endpoints, wait the
     preStop pause, SIGTERM it, wait for it to exit (within terminationGracePeriodSeconds);
  2. an A/B weight change (90/10 to 50/50) by editing the route table file in every pod's
     mounted ConfigMap (as the kubelet swaps it), no restart;
  3. an alias move (champion to version 2) in the registry;
  4. SIGKILL of one registry replica, then another alias move (challenger to version 1) that
     the gateways must follow through the surviving replica.
Then it checks: zero failed requests, every old pod exited 0 in its grace period, the split
followed the weights, both alias moves reached the answers, the monitor received the gateways'
prediction events. Prints the figures (README: "Rollout rehearsal").

Also checks that the configurations deploy/compose.yaml mounts are ones the binaries accept.
Needs root (ip netns; re-runs itself under passwordless sudo when it has that), PostgreSQL's server binaries, kubectl, the release binaries
(VELOCAST_BIN, default $CARGO_TARGET_DIR/release) and the test tooling venv (PyJWT).
  python tests/rehearsal/run.py [--keep]     (make rehearsal)"""

import asyncio
import base64
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
BIN = pathlib.Path(os.environ.get("VELOCAST_BIN", TARGET / "release"))
PG_BIN = next(iter(sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin"))), None)
NET = "10.77.0"
FRONT = f"{NET}.5"
BRIDGE = "vcbr0"
HOSTS = {"postgres": 2, "registry-a": 11, "registry-b": 12, "gateway-a": 21, "gateway-b": 22,
         "gateway-c": 23, "gateway-d": 24, "monitor": 31}
LOAD_THREADS, LOAD_RATE = 4, 40.0  # per thread: 160 predictions a second in all
SUBJECTS = 64  # the split is sticky by subject: many subjects make the weights visible

procs = {}  # host -> Popen
work = pathlib.Path(tempfile.mkdtemp(prefix="velocast-rehearsal-"))
events = []  # (time, label) for the report


def say(message):
    print(f"rehearsal: {message}", flush=True)


def mark(label):
    events.append((time.time(), label))
    say(label)


def sh(*argv, check=True, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {result.returncode}: {result.stderr.strip()}")
    return result


def fail(message):
    raise SystemExit(f"rehearsal: FAILED: {message}")


# --- The manifests -------------------------------------------------------------------------
def rendered_prod():
    text = sh("kubectl", "kustomize", str(REPO / "k8s" / "overlays" / "prod")).stdout
    documents = [d for d in yaml.safe_load_all(text) if d]
    by_kind = {}
    for d in documents:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    return by_kind


# --- Secrets: what `kubectl create secret` would bring ---------------------------------------
def make_secrets(postgres_url_of):
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "rehearsal-1", "use": "sig", "alg": "EdDSA",
                      "x": base64.urlsafe_b64encode(public).rstrip(b"=").decode()}]}
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    def token(sub, scopes):
        now = int(time.time())
        claims = {"sub": sub, "scope": " ".join(scopes), "iss": "velocast", "aud": "velocast",
                  "iat": now, "nbf": now, "exp": now + 3600}
        return jwt.encode(claims, pem, algorithm="EdDSA", headers={"kid": "rehearsal-1"})

    secrets = {
        "velocast-jwks": {"jwks.json": json.dumps(jwks)},
        "velocast-registry": {"DATABASE_URL": postgres_url_of("registry")},
        "velocast-monitor": {"DATABASE_URL": postgres_url_of("monitor"),
                             "registry.token": token("monitor", ["models:read"])},
        "velocast-gateway": {"token": token("gateway", ["models:read", "monitor:write"])},
    }
    admin = token("rehearsal-admin", ["models:read", "models:write", "models:admin"])
    clients = [token(f"client-{i}", ["predict"]) for i in range(SUBJECTS)]
    return secrets, admin, clients


# --- Hosts -----------------------------------------------------------------------------------
def ns(host):
    return f"vc-{host}"


def network_up():
    network_down()
    for octet in HOSTS.values():  # a veth left by a run whose pod outlived it
        sh("ip", "link", "delete", f"vch{octet}", check=False)
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{NET}.1/24", "dev", BRIDGE)
    sh("ip", "addr", "add", f"{FRONT}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for host, octet in HOSTS.items():
        name = ns(host)
        sh("ip", "netns", "add", name)
        outer, inner = f"vch{octet}", f"vcp{octet}"
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        sh("ip", "link", "set", inner, "netns", name)
        sh("ip", "link", "set", outer, "master", BRIDGE, "up")
        sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", name, "ip", "link", "set", inner, "name", "eth0")
        sh("ip", "netns", "exec", name, "ip", "addr", "add", f"{NET}.{octet}/24", "dev", "eth0")
        sh("ip", "netns", "exec", name, "ip", "link", "set", "eth0", "up")
        # Cluster DNS: the Services' names resolve to the front (the monitor has one pod).
        etc = pathlib.Path("/etc/netns") / name
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(
            f"127.0.0.1 localhost\n{FRONT} velocast-registry velocast-gateway\n"
            f"{NET}.{HOSTS['monitor']} velocast-monitor\n{NET}.{HOSTS['postgres']} velocast-postgres\n")


def network_down():
    for host in HOSTS:
        sh("ip", "netns", "delete", ns(host), check=False)
        shutil.rmtree(pathlib.Path("/etc/netns") / ns(host), ignore_errors=True)
    sh("ip", "link", "delete", BRIDGE, check=False)


def postgres_up():
    data = work / "postgres" / "data"
    data.mkdir(parents=True)
    sh("chown", "-R", "postgres:postgres", str(work / "postgres"))
    os.chmod(work, 0o755)

    def as_postgres(*argv, **kwargs):
        return sh("runuser", "-u", "postgres", "--", *argv, **kwargs)

    as_postgres(str(PG_BIN / "initdb"), "--auth=trust", "--username=postgres", "--no-sync", "-D", str(data))
    with open(data / "pg_hba.conf", "a") as hba:
        hba.write(f"host all all {NET}.0/24 trust\n")
    log = open(work / "postgres" / "log", "w")
    procs["postgres"] = subprocess.Popen(
        ["ip", "netns", "exec", ns("postgres"), "runuser", "-u", "postgres", "--", str(PG_BIN / "postgres"),
         "-D", str(data), "-c", f"listen_addresses={NET}.{HOSTS['postgres']}", "-c", "unix_socket_directories=",
         "-c", "fsync=off"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"postgres://postgres@{NET}.{HOSTS['postgres']}:5432"
    for _ in range(100):
        if sh("ip", "netns", "exec", ns("postgres"), str(PG_BIN / "pg_isready"), "-h", f"{NET}.{HOSTS['postgres']}",
              check=False).returncode == 0:
            break
        time.sleep(0.2)
    else:
        fail("postgres did not start: " + (work / "postgres" / "log").read_text()[-2000:])
    for database in ("registry", "monitor"):
        sh(str(PG_BIN / "psql"), f"{address}/postgres", "-qc", f"CREATE DATABASE {database}")
    return lambda database: f"{address}/{database}"


# --- Pods from the rendered Deployments ------------------------------------------------------
class Pod:
    def __init__(self, manifests, secrets, deployment, host):
        self.host, self.deployment = host, deployment
        spec = manifests["Deployment"][deployment]["spec"]["template"]["spec"]
        container = spec["containers"][0]
        self.root = work / host
        self.grace = spec.get("terminationGracePeriodSeconds", 30)
        self.pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        probe = container["readinessProbe"]
        self.ready_path, self.probe_period = probe["httpGet"]["path"], probe.get("periodSeconds", 10)
        self.port = container["ports"][0]["containerPort"]
        self.address = f"{NET}.{HOSTS[host]}:{self.port}"
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts = sorted(container.get("volumeMounts", []), key=lambda m: -len(m["mountPath"]))
        self.moved = [(m["mountPath"], str(self.root) + m["mountPath"]) for m in mounts]
        self.config_files = []
        for mount in mounts:
            volume, target = volumes[mount["name"]], self.root / mount["mountPath"].lstrip("/")
            if "configMap" in volume:
                files = manifests["ConfigMap"][volume["configMap"]["name"]]["data"]
            elif "secret" in volume:
                data = secrets[volume["secret"]["secretName"]]
                items = volume["secret"].get("items")
                files = {i["path"]: data[i["key"]] for i in items} if items else data
            else:  # emptyDir
                target.mkdir(parents=True, exist_ok=True)
                continue
            if "subPath" in mount:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(self.relocate(files[mount["subPath"]]))
                self.config_files.append(target)
            else:
                target.mkdir(parents=True, exist_ok=True)
                for name, content in files.items():
                    (target / name).write_text(self.relocate(content))
                    self.config_files.append(target / name)
        self.env = {"PATH": "/usr/bin:/bin", "ORT_DYLIB_PATH": str(REPO / ".velocast" / "lib" / "libonnxruntime.so")}
        for variable in container.get("env", []):
            if "value" in variable:
                self.env[variable["name"]] = self.relocate(variable["value"])
            else:
                ref = variable["valueFrom"]["secretKeyRef"]
                self.env[variable["name"]] = secrets[ref["name"]][ref["key"]]
        self.argv = [str(BIN / deployment)] + [self.relocate(a) for a in container.get("args", [])]
        self.process = None

    def relocate(self, text):
        """Paths under the pod's mounts, as they sit on this host."""
        for inside, outside in self.moved:
            text = text.replace(inside, outside)
        return text

    def start(self):
        log = open(self.root / "log", "w")
        self.process = subprocess.Popen(["ip", "netns", "exec", ns(self.host), "env", "-i",
                                         *[f"{k}={v}" for k, v in self.env.items()], *self.argv],
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs[self.host] = self.process
        return self


# --- The front: Services as an ingress controller and kube-proxy see them --------------------
class Endpoint:
    def __init__(self, pod):
        self.pod, self.ready, self.terminating, self.served = pod, False, False, 0


class Front:
    def __init__(self):
        self.services = {8080: [], 8081: []}
        self.turn = {8080: 0, 8081: 0}
        self.retries = 0
        self.loop = asyncio.new_event_loop()

    def add(self, port, pod):
        endpoint = Endpoint(pod)
        self.loop.call_soon_threadsafe(self.services[port].append, endpoint)
        self.loop.call_soon_threadsafe(self.loop.create_task, self.probe(endpoint))
        return endpoint

    def ready_count(self, port):
        return sum(e.ready and not e.terminating for e in self.services[port])

    def pick(self, port, exclude=()):
        candidates = [e for e in self.services[port] if e.ready and not e.terminating and e not in exclude]
        if not candidates:
            return None
        self.turn[port] += 1
        return candidates[self.turn[port] % len(candidates)]

    async def probe(self, endpoint):
        host, port = endpoint.pod.address.split(":")
        while True:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 1)
                writer.write(f"GET {endpoint.pod.ready_path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                status = (await asyncio.wait_for(reader.readline(), 1)).split(b" ")[1]
                writer.close()
                endpoint.ready = status == b"200"
            except (OSError, asyncio.TimeoutError, IndexError):
                endpoint.ready = False
            await asyncio.sleep(endpoint.pod.probe_period)

    async def connect(self, port):
        tried = []
        while (endpoint := self.pick(port, tried)) is not None:
            host, upstream_port = endpoint.pod.address.split(":")
            try:
                return endpoint, await asyncio.open_connection(host, int(upstream_port))
            except OSError:
                tried.append(endpoint)
                self.retries += 1
        return None, None

    async def http(self, reader, writer):
        """HTTP/1.1 keep-alive to the client; one upstream connection per request, to a pod
        chosen when the request arrives (so a pod out of the endpoints gets nothing new)."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = [line for line in lines[1:] if line and not line.lower().startswith("connection:")]
                length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
                body = await reader.readexactly(length)
                endpoint, upstream = await self.connect(8080)
                if upstream is None:
                    writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                endpoint.served += 1
                up_reader, up_writer = upstream
                up_writer.write(("\r\n".join([lines[0], *headers, "Connection: close", "", ""])).encode("latin-1") + body)
                response = await up_reader.read(-1)
                up_writer.close()
                head_end = response.find(b"\r\n\r\n")
                if head_end < 0:
                    writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                else:
                    kept = [h for h in response[:head_end].split(b"\r\n") if not h.lower().startswith(b"connection:")]
                    writer.write(b"\r\n".join(kept) + response[head_end:])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def tcp(self, reader, writer):
        endpoint, upstream = await self.connect(8081)
        if upstream is None:
            writer.close()
            return
        endpoint.served += 1
        up_reader, up_writer = upstream

        async def pipe(source, sink):
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.start_server(self.http, FRONT, 8080))
        self.loop.run_until_complete(asyncio.start_server(self.tcp, FRONT, 8081))
        self.loop.run_forever()


def wait_for(what, condition, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    fail(f"timed out after {timeout} s waiting for {what}")


def terminate(front, endpoint):
    """As the kubelet stops a pod: out of the endpoints, the preStop pause, SIGTERM, the grace
    period, SIGKILL. Returns (exit code, seconds from SIGTERM to exit)."""
    pod = endpoint.pod
    endpoint.terminating = True
    time.sleep(pod.pre_stop)
    pod.process.send_signal(signal.SIGTERM)
    began = time.time()
    try:
        code = pod.process.wait(timeout=pod.grace)
    except subprocess.TimeoutExpired:
        pod.process.kill()
        code = "killed after the grace period"
    return code, time.time() - began


def cli(admin, *argv):
    return sh(str(BIN / "velocast"), *argv, env=dict(os.environ, VELOCAST_TOKEN=admin,
                                                     VELOCAST_REGISTRY_URL=f"http://{FRONT}:8081"))


def compose_configs_valid():
    """deploy/compose.yaml's service configurations are ones the binaries accept."""
    env = {"PATH": "/usr/bin:/bin", "VELOCAST_JWT_SECRET": "rehearsal-" + "0" * 32,
           "DATABASE_URL": "postgres://postgres@postgres:5432/check"}
    compose = REPO / "deploy" / "compose"
    for service, config in (("registry", compose / "registry.toml"), ("monitor", compose / "monitor.toml"),
                            ("gateway", compose / "gateway" / "gateway.toml")):
        result = subprocess.run([str(BIN / f"velocast-{service}"), "serve", "--config", str(config), "--check-config"],
                                capture_output=True, text=True, env=env)
        if result.returncode != 0:
            fail(f"{config.relative_to(REPO)} is refused by velocast-{service}: {result.stderr.strip()}")
    say("deploy/compose configurations: accepted by the binaries")


def main():
    if os.geteuid() != 0:
        # CI runners grant passwordless sudo rather than root.
        if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
            os.execvp("sudo", ["sudo", "-n", "-E", sys.executable, *sys.argv])
        fail("needs root (ip netns), or passwordless sudo")
    for tool in ("ip", "kubectl", "runuser"):
        if not shutil.which(tool):
            fail(f"needs {tool}")
    if PG_BIN is None:
        fail("needs PostgreSQL's server binaries under /usr/lib/postgresql")
    for binary in ("velocast-registry", "velocast-gateway", "velocast-monitor", "velocast-trainer", "velocast"):
        if not (BIN / binary).exists():
            fail(f"{BIN / binary} is missing: cargo build --release first (make rehearsal does)")
    compose_configs_valid()
    manifests = rendered_prod()
    replicas = {name: d["spec"].get("replicas", 1) for name, d in manifests["Deployment"].items()}
    say(f"prod overlay: {len(sum((list(v) for v in manifests.values()), []))} objects; replicas {replicas}")
    network_up()
    postgres_url_of = postgres_up()
    secrets, admin, clients = make_secrets(postgres_url_of)
    front = Front()
    threading.Thread(target=front.run, daemon=True).start()

    registries = [Pod(manifests, secrets, "velocast-registry", h).start() for h in ("registry-a", "registry-b")]
    registry_endpoints = [front.add(8081, pod) for pod in registries]
    wait_for("both registry replicas ready", lambda: front.ready_count(8081) == 2, 60)
    model_dirs = []
    for seed, alias in ((1, "champion"), (2, "challenger")):
        out = work / f"model-{seed}"
        sh(str(BIN / "velocast-trainer"), "train", "--data", str(REPO / ".velocast" / "data" / "hour.csv"),
           "--out", str(out), "--trials", "3", "--seed", str(seed), "--register", f"http://{FRONT}:8081",
           "--alias", alias, env=dict(os.environ, VELOCAST_TOKEN=admin,
                                      ORT_DYLIB_PATH=str(REPO / ".velocast" / "lib" / "libonnxruntime.so")))
        model_dirs.append(out)
    say("registered version 1 (champion) and 2 (challenger)")
    monitor = Pod(manifests, secrets, "velocast-monitor", "monitor").start()
    gateways = [Pod(manifests, secrets, "velocast-gateway", h).start() for h in ("gateway-a", "gateway-b")]
    gateway_endpoints = [front.add(8080, pod) for pod in gateways]
    wait_for("both gateway replicas ready", lambda: front.ready_count(8080) == 2, 90)
    wait_for("the monitor ready", lambda: sh("curl", "-sf", f"http://{monitor.address}/health/ready",
                                             check=False).returncode == 0, 60)

    (work / "tokens.json").write_text(json.dumps(clients))
    stop = work / "stop"
    load = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).parent / "load.py"), FRONT, "8080",
                             str(work / "tokens.json"), str(work / "load.jsonl"), str(stop),
                             str(LOAD_THREADS), str(LOAD_RATE)])
    mark("load started")
    time.sleep(4)

    # 1. Rolling update, maxSurge 1 / maxUnavailable 0.
    exits = []
    mark("rolling update of the gateway begins")
    for old, new_host in zip(list(gateway_endpoints), ("gateway-c", "gateway-d")):
        new = front.add(8080, Pod(manifests, secrets, "velocast-gateway", new_host).start())
        wait_for(f"{new_host} ready", lambda: new.ready, 90)
        gateway_endpoints.append(new)
        code, seconds = terminate(front, old)
        exits.append((old.pod.host, code, seconds))
        gateway_endpoints.remove(old)
    mark("rolling update of the gateway done")
    time.sleep(3)

    # 2. The A/B split, edited in the mounted ConfigMap of every live pod (atomic swap).
    mark("route table: weights 90/10 -> 50/50")
    for endpoint in gateway_endpoints:
        for path in endpoint.pod.config_files:
            if path.name == "gateway.toml":
                text = path.read_text()
                edited = text.replace("weight = 90", "weight = 50").replace("weight = 10", "weight = 50")
                if edited == text:
                    fail("the rendered gateway.toml has no 90/10 weights to edit")
                swap = path.with_suffix(".swap")
                swap.write_text(edited)
                os.replace(swap, path)
    time.sleep(4)
    mark("weights applied")

    # 3. An alias move.
    mark("alias champion -> v2")
    cli(admin, "alias", "bike-demand", "champion", "2", "--reason", "rehearsal: promote v2")
    time.sleep(4)

    # 4. One registry replica dies; the next alias move must still arrive.
    registries[0].process.kill()
    mark("registry-a killed (SIGKILL)")
    wait_for("the front to drop registry-a", lambda: front.ready_count(8081) == 1, 30)
    mark("alias challenger -> v1 (through registry-b)")
    cli(admin, "alias", "bike-demand", "challenger", "1", "--reason", "rehearsal: after a replica died")
    time.sleep(5)
    stop.write_text("")
    load.wait(timeout=30)
    mark("load stopped")

    monitor_metrics = sh("curl", "-sf", f"http://{monitor.address}/metrics").stdout
    report(exits, front, monitor_metrics, registry_endpoints)


def between(records, start, end):
    return [r for r in records if start <= r["t"] < end]


def report(exits, front, monitor_metrics, registry_endpoints):
    records = [json.loads(line) for line in (work / "load.jsonl").read_text().splitlines()]
    at = {label: t for t, label in events}
    failed = [r for r in records if r["status"] != 200]
    span = records[-1]["t"] - records[0]["t"]
    latencies = sorted(r["ms"] for r in records)
    problems = []
    if failed:
        problems.append(f"{len(failed)} failed requests, e.g. {failed[:3]}")
    for host, code, seconds in exits:
        if code != 0:
            problems.append(f"{host} exited {code} after SIGTERM")
    share = lambda rs: sum(r.get("arm") == "challenger" for r in rs) / max(len(rs), 1)
    before = share(between(records, at["load started"], at["route table: weights 90/10 -> 50/50"]))
    # The last 2 s before "weights applied" (4 s after the edit; the gateway re-reads every second).
    after = share(between(records, at["weights applied"] - 2, at["weights applied"]))
    if not (before < 0.25 and 0.3 <= after <= 0.7):
        problems.append(f"challenger share {before:.2f} before the edit and {after:.2f} after (weights 10% then 50%)")
    champion_before = {r.get("version") for r in between(records, at["load started"], at["alias champion -> v2"])
                       if r.get("arm") == "champion"}
    moved = [r for r in records if r["t"] >= at["alias champion -> v2"] and r.get("arm") == "champion"]
    first_v2 = next((r["t"] for r in moved if r.get("version") == 2), None)
    last_v1 = max((r["t"] for r in moved if r.get("version") == 1), default=at["alias champion -> v2"])
    if champion_before != {1} or first_v2 is None:
        problems.append(f"champion served versions {champion_before} before the move, first v2 answer {first_v2}")
    late = [r for r in records if r["t"] >= at["alias challenger -> v1 (through registry-b)"] and r.get("arm") == "challenger"]
    last_v2 = max((r["t"] for r in late if r.get("version") == 2), default=at["alias challenger -> v1 (through registry-b)"])
    if not any(r.get("version") == 1 for r in late):
        problems.append("the challenger alias move after the registry replica died never reached the answers")
    accepted = sum(float(line.split()[-1]) for line in monitor_metrics.splitlines()
                   if line.startswith("velocast_monitor_ingested_total") and 'kind="event"' in line
                   and 'outcome="stored"' in line)
    if accepted == 0:
        problems.append("the monitor received no prediction events from the gateways")
    rollout = at["rolling update of the gateway done"] - at["rolling update of the gateway begins"]
    lines = [
        f"requests: {len(records)} in {span:.1f} s ({len(records) / span:.0f}/s), failed: {len(failed)}",
        f"latency through the front: p50 {statistics.median(latencies):.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)]:.1f} ms, max {latencies[-1]:.1f} ms",
        f"rolling update: {rollout:.1f} s for 2 pods; old pods exited "
        + ", ".join(f"{h} code {c} {s:.2f} s after SIGTERM" for h, c, s in exits),
        f"A/B split: challenger {before:.0%} of answers at 90/10, {after:.0%} at 50/50 (edit picked up without restart)",
        f"alias champion -> v2: first v2 answer {first_v2 - at['alias champion -> v2']:.2f} s after the move, "
        f"last v1 answer {last_v1 - at['alias champion -> v2']:.2f} s after",
        f"registry-a killed: challenger -> v1 reached the answers; last v2 answer "
        f"{last_v2 - at['alias challenger -> v1 (through registry-b)']:.2f} s after the move",
        f"front: {front.retries} upstream connect retries; registry connections "
        + ", ".join(f"{e.pod.host} {e.served}" for e in registry_endpoints),
        f"monitor: {accepted:.0f} prediction events stored",
    ]
    for line in lines:
        say(line)
    (work / "report.txt").write_text("\n".join(lines) + "\n")
    if problems:
        fail("; ".join(problems))
    say("passed: zero failed requests")


if __name__ == "__main__":
    try:
        main()
    finally:
        # Each pod leads its own process group (runuser leaves the postgres server as a child).
        for process in procs.values():
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for process in procs.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        network_down()
        if "--keep" in sys.argv:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
