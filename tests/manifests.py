"""Checks every Kubernetes manifest in k8s/: it parses, and each workload has startup/readiness/
liveness probes on its health routes, resource requests and a memory limit, and runs as a
non-root user with a read-only root filesystem, no privilege escalation and no capabilities.
Checks the Prometheus alerting rules in deploy/prometheus/: each alert has an expression, a
severity and a summary, and every velocast_* metric it reads is one a service registers.
Run by `make test` (`make manifests`); exits 1 naming every problem."""

import pathlib
import re
import sys

import yaml

problems = []
root = pathlib.Path(__file__).resolve().parent.parent / "k8s"
files = sorted(root.glob("*.yaml"))
if not files:
    problems.append("no manifests under k8s/")
for path in files:
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except yaml.YAMLError as error:
        problems.append(f"{path.name}: not YAML: {error}")
        continue
    for doc in documents:
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
        where = f"{path.name}: {kind}/{name}"
        for key in ("apiVersion", "kind", "metadata"):
            if key not in doc:
                problems.append(f"{where}: missing {key}")
        if kind not in ("Deployment", "Job", "StatefulSet"):
            continue
        pod = doc["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        if not pod_security.get("runAsNonRoot"):
            problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
        for container in pod.get("containers", []):
            c = f"{where} container {container.get('name')}"
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
# Prometheus rules: well-formed, and reading only metrics the services export.
repository = root.parent
sources = "\n".join(p.read_text() for p in repository.glob("services/*/src/**/*.rs"))
sources += "\n".join(p.read_text() for p in repository.glob("crates/*/src/**/*.rs"))
rule_files = sorted((repository / "deploy" / "prometheus").glob("*.yaml"))
alerts = 0
for path in rule_files:
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        problems.append(f"{path.name}: not YAML: {error}")
        continue
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
            for metric in re.findall(r"velocast_[a-z_]+", rule.get("expr", "")):
                if f'"{metric}"' not in sources:
                    problems.append(f"{where}: no service registers {metric}")
if problems:
    print("manifest problems:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"manifests: {len(files)} file(s) checked; {alerts} alerting rule(s) in {len(rule_files)} file(s)")
