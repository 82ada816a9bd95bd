"""Checks the Kubernetes manifests: the base (k8s/base) and every overlay (k8s/overlays/*) as
`kubectl kustomize` renders it (when kubectl is on the machine; the files alone otherwise). Every
document parses; each workload has startup/readiness/liveness probes on its health routes
(Deployments), resource requests and a memory limit, and runs as a non-root user with a
read-only root filesystem, no privilege escalation and no capabilities; no image is `:latest`
or untagged; every Deployment has a PodDisruptionBudget and is selected by a NetworkPolicy, and
a default-deny policy exists; every Job and CronJob is selected by a NetworkPolicy too; every
Deployment spreads over hosts, stops with a preStop pause, and gives Kubernetes a termination
grace period longer than that pause plus the drain its own configuration asks for (the TOML in
its ConfigMap: shutdown_delay_ms + shutdown_grace_seconds); every ServiceMonitor selects a
Service with the port it scrapes; every PrometheusRule's spec is the rules file of its name in
deploy/prometheus/ (`--sync-rules` rewrites k8s/components/monitoring/prometheus-rules.yaml
from them); every metric the Grafana dashboard charts is one a service registers.
Checks the Prometheus alerting rules in deploy/prometheus/: each alert has an expression, a
severity and a summary, and every velocast_* metric it reads is one a service registers.
Run by `make test` (`make manifests`); exits 1 naming every problem."""

import json
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import yaml

problems = []
# The manifests checked: the repository's k8s/, or another tree given as the first argument
# (the tests' deliberately broken copies).
repository = pathlib.Path(__file__).resolve().parent.parent
arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
root = pathlib.Path(arguments[0]) if arguments else repository / "k8s"
rules_dir = repository / "deploy" / "prometheus"
RULES_MANIFEST = repository / "k8s" / "components" / "monitoring" / "prometheus-rules.yaml"


def rules_manifest_text():
    """The PrometheusRules k8s/components/monitoring carries: each deploy/prometheus file's
    groups, unchanged, as the spec of a PrometheusRule named after the file."""
    parts = []
    for path in sorted(rules_dir.glob("*.yaml")):
        body = "\n".join("  " + line if line else line
                         for line in path.read_text().splitlines() if not line.startswith("#"))
        parts.append("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n"
                     f"  name: velocast-{path.stem}\n  labels: {{app.kubernetes.io/part-of: velocast}}\n"
                     f"spec:\n{body}\n")
    return ("# Generated from deploy/prometheus/*.yaml by `python tests/manifests.py --sync-rules` (each\n"
            "# file's groups are a PrometheusRule's spec); tests/manifests.py fails when they differ.\n"
            + "---\n".join(parts))


if "--sync-rules" in sys.argv:
    RULES_MANIFEST.write_text(rules_manifest_text())
    print(f"wrote {RULES_MANIFEST.relative_to(repository)}")
    sys.exit(0)
sources_of_documents = []  # (where, [documents], a whole rendered overlay?)
files = sorted(p for p in root.rglob("*.yaml") if p.name != "kustomization.yaml")
if not files:
    problems.append("no manifests under k8s/")
for path in files:
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except yaml.YAMLError as error:
        problems.append(f"{path.relative_to(root)}: not YAML: {error}")
        continue
    sources_of_documents.append((str(path.relative_to(root)), documents, False))
kubectl = shutil.which("kubectl")
overlays = sorted(p.parent for p in (root / "overlays").glob("*/kustomization.yaml"))
if not overlays:
    problems.append("no overlays under k8s/overlays")
rendered = 0
if kubectl:
    for overlay in overlays:
        result = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True)
        if result.returncode != 0:
            problems.append(f"overlay {overlay.name}: kubectl kustomize failed: {result.stderr.strip()}")
            continue
        rendered += 1
        sources_of_documents.append((f"overlay {overlay.name}", [d for d in yaml.safe_load_all(result.stdout) if d], True))


def service_toml(documents, config_map):
    """The TOML document a service's ConfigMap carries (its one key), or {}."""
    for doc in documents:
        if doc.get("kind") == "ConfigMap" and doc["metadata"].get("name") == config_map:
            for value in (doc.get("data") or {}).values():
                try:
                    return tomllib.loads(value)
                except tomllib.TOMLDecodeError:
                    return {}
    return {}


def check(where_file, documents, whole):
    deployments, budgets, policies, workloads, services, monitors = {}, [], [], {}, {}, []
    minimums, replicas = {}, {}
    for doc in documents:
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
        where = f"{where_file}: {kind}/{name}"
        for key in ("apiVersion", "kind", "metadata"):
            if key not in doc:
                problems.append(f"{where}: missing {key}")
        if kind == "PodDisruptionBudget":
            budgets.append(doc["spec"].get("selector", {}).get("matchLabels", {}))
            minimums[tuple(sorted(budgets[-1].items()))] = doc["spec"].get("minAvailable")
        if kind == "NetworkPolicy":
            policies.append(doc["spec"])
        if kind == "Service":
            services[name] = doc
        if kind == "ServiceMonitor":
            monitors.append((where, doc))
        if kind not in ("Deployment", "Job", "StatefulSet", "CronJob"):
            continue
        template = doc["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else doc["spec"]["template"]
        if kind == "Deployment":
            deployments[name] = template["metadata"].get("labels", {})
            replicas[name] = doc["spec"].get("replicas", 1)
        workloads[f"{kind}/{name}"] = template["metadata"].get("labels", {})
        pod = template["spec"]
        if kind == "Deployment":
            keys = {c.get("topologyKey") for c in pod.get("topologySpreadConstraints", [])}
            if "kubernetes.io/hostname" not in keys:
                problems.append(f"{where}: no topologySpreadConstraints over kubernetes.io/hostname")
            # Drain: preStop pause, then the service's own delay and grace, inside the period.
            config = service_toml(documents, name)
            for container in pod.get("containers", []):
                pause = (container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}) or {}).get("seconds")
                if not pause:
                    problems.append(f"{where} container {container.get('name')}: no preStop sleep (endpoints must drop the pod before SIGTERM)")
                    continue
                if whole and config:
                    drain = pause + config.get("shutdown_delay_ms", 0) / 1000 + config.get("shutdown_grace_seconds", 0)
                    grace = pod.get("terminationGracePeriodSeconds", 30)
                    if grace <= drain:
                        problems.append(f"{where}: terminationGracePeriodSeconds {grace} must exceed preStop {pause} s "
                                        f"+ shutdown_delay_ms + shutdown_grace_seconds = {drain:g} s")
        pod_security = pod.get("securityContext", {})
        if not pod_security.get("runAsNonRoot"):
            problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
        if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: pod securityContext.seccompProfile must be RuntimeDefault")
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            c = f"{where} container {container.get('name')}"
            image = container.get("image", "")
            if ":" not in image.split("/")[-1] or image.endswith(":latest"):
                problems.append(f"{c}: image {image!r} must carry a tag other than latest")
            security = container.get("securityContext", {})
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{c}: allowPrivilegeEscalation must be false")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{c}: readOnlyRootFilesystem must be true")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{c}: capabilities must drop ALL")
            resources = container.get("resources", {})
            if not resources.get("requests", {}).get("cpu") or not resources.get("requests", {}).get("memory"):
                problems.append(f"{c}: cpu and memory requests are required")
            if not resources.get("limits", {}).get("memory"):
                problems.append(f"{c}: a memory limit is required")
            if kind == "Deployment":
                for probe, route in (("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live"),
                                     ("startupProbe", "/health/live")):
                    path_ = container.get(probe, {}).get("httpGet", {}).get("path")
                    if path_ != route:
                        problems.append(f"{c}: {probe} must GET {route} (has {path_})")
    # Whole-set policies, on the rendered overlays (a lone file need not hold its budget).
    if whole:
        selects = lambda selector, labels: all(labels.get(k) == v for k, v in selector.items())
        if not any(p.get("podSelector") == {} and set(p.get("policyTypes", [])) >= {"Ingress", "Egress"}
                   for p in policies):
            problems.append(f"{where_file}: no default-deny NetworkPolicy (empty podSelector, Ingress and Egress)")
        for name, labels in deployments.items():
            if not any(selects(b, labels) for b in budgets if b):
                problems.append(f"{where_file}: Deployment/{name} has no PodDisruptionBudget")
            for selector, minimum in minimums.items():
                if isinstance(minimum, int) and selects(dict(selector), labels) and minimum >= replicas[name]:
                    problems.append(f"{where_file}: Deployment/{name}: its budget's minAvailable {minimum} "
                                    f"with {replicas[name]} replica(s) blocks every node drain")
        for name, labels in workloads.items():
            if not any(selects(p.get("podSelector", {}).get("matchLabels", {}), labels)
                       for p in policies if p.get("podSelector", {}).get("matchLabels")):
                problems.append(f"{where_file}: {name} is selected by no NetworkPolicy of its own")
        for where, monitor in monitors:
            selector = monitor["spec"].get("selector", {}).get("matchLabels", {})
            matched = [s for s in services.values() if selector and selects(selector, s["metadata"].get("labels", {}))]
            if not matched:
                problems.append(f"{where}: selects no Service")
            for endpoint in monitor["spec"].get("endpoints", []):
                for service in matched:
                    if endpoint.get("port") not in [p.get("name") for p in service["spec"].get("ports", [])]:
                        problems.append(f"{where}: Service/{service['metadata']['name']} has no port named {endpoint.get('port')!r}")
                if endpoint.get("path") != "/metrics":
                    problems.append(f"{where}: scrapes {endpoint.get('path')!r}, not /metrics")


for where_file, documents, whole in sources_of_documents:
    check(where_file, documents, whole)
# Prometheus rules: well-formed, and reading only metrics the services export.
sources = "\n".join(p.read_text() for p in repository.glob("services/*/src/**/*.rs"))
sources += "\n".join(p.read_text() for p in repository.glob("crates/*/src/**/*.rs"))


def unregistered(expr):
    """The velocast_* metrics a PromQL expression reads that no service registers (a histogram's
    _bucket, _count and _sum series belong to the histogram's name)."""
    names = {re.sub(r"_(bucket|count|sum)$", "", m) for m in re.findall(r"velocast_[a-z_]+", expr)}
    return sorted(n for n in names if f'"{n}"' not in sources)


def parsed(paths, load, format_name):
    """(path, document) for each file that parses; a problem named for each that does not."""
    for path in paths:
        try:
            yield path, load(path.read_text())
        except (yaml.YAMLError, json.JSONDecodeError) as error:
            problems.append(f"{path.name}: not {format_name}: {error}")


rule_files = sorted((repository / "deploy" / "prometheus").glob("*.yaml"))
alerts = 0
for path, document in parsed(rule_files, yaml.safe_load, "YAML"):
    for group in document.get("groups", []):
        for rule in group.get("rules", []):
            where = f"{path.name}: {rule.get('alert')}"
            alerts += 1
            for key in ("alert", "expr"):
                if not rule.get(key):
                    problems.append(f"{where}: missing {key}")
            if rule.get("labels", {}).get("severity") not in ("info", "warning", "critical"):
                problems.append(f"{where}: labels.severity must be info, warning or critical")
            if not rule.get("annotations", {}).get("summary"):
                problems.append(f"{where}: annotations.summary is required")
            for metric in unregistered(rule.get("expr", "")):
                problems.append(f"{where}: no service registers {metric}")
# The PrometheusRules are the rules files, and the dashboard charts only exported metrics.
if root == repository / "k8s":
    if not RULES_MANIFEST.exists() or RULES_MANIFEST.read_text() != rules_manifest_text():
        problems.append(f"{RULES_MANIFEST.relative_to(repository)} differs from deploy/prometheus/*.yaml "
                        "(run: python tests/manifests.py --sync-rules)")
dashboards = sorted(root.glob("components/*/dashboards/*.json"))
charted = 0
for path, dashboard in parsed(dashboards, json.loads, "JSON"):
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            charted += 1
            for metric in unregistered(target.get("expr", "")):
                problems.append(f"{path.name}: panel {panel.get('title')!r} charts {metric}, which no service registers")
if problems:
    print("manifest problems:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"manifests: {len(files)} file(s) and {rendered} rendered overlay(s) checked; "
      f"{alerts} alerting rule(s) in {len(rule_files)} file(s); {charted} dashboard queries")
