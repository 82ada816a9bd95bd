"""Checks the Kubernetes manifests: the base (k8s/base) and every overlay (k8s/overlays/*) as
`kubectl kustomize` renders it (when kubectl is on the machine; the files alone otherwise). Every
document parses; each workload has startup/readiness/liveness probes on its health routes
(Deployments), resource requests and a memory limit, and runs as a non-root user with a
read-only root filesystem, no privilege escalation and no capabilities; no image is `:latest`
or untagged; every Deployment has a PodDisruptionBudget and is selected by a NetworkPolicy, and
a default-deny policy exists.
Checks the Prometheus alerting rules in deploy/prometheus/: each alert has an expression, a
severity and a summary, and every velocast_* metric it reads is one a service registers.
Run by `make test` (`make manifests`); exits 1 naming every problem."""

import pathlib
import re
import shutil
import subprocess
import sys

import yaml

problems = []
# The manifests checked: the repository's k8s/, or another tree given as the first argument
# (the tests' deliberately broken copies).
root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent / "k8s"
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


def check(where_file, documents, whole):
    deployments, budgets, policies = {}, [], []
    for doc in documents:
        kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
        where = f"{where_file}: {kind}/{name}"
        for key in ("apiVersion", "kind", "metadata"):
            if key not in doc:
                problems.append(f"{where}: missing {key}")
        if kind == "PodDisruptionBudget":
            budgets.append(doc["spec"].get("selector", {}).get("matchLabels", {}))
        if kind == "NetworkPolicy":
            policies.append(doc["spec"])
        if kind not in ("Deployment", "Job", "StatefulSet", "CronJob"):
            continue
        template = doc["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else doc["spec"]["template"]
        if kind == "Deployment":
            deployments[name] = template["metadata"].get("labels", {})
        pod = template["spec"]
        pod_security = pod.get("securityContext", {})
        if not pod_security.get("runAsNonRoot"):
            problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
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
            if not any(selects(p.get("podSelector", {}).get("matchLabels", {}), labels)
                       for p in policies if p.get("podSelector", {}).get("matchLabels")):
                problems.append(f"{where_file}: Deployment/{name} is selected by no NetworkPolicy of its own")


for where_file, documents, whole in sources_of_documents:
    check(where_file, documents, whole)
# Prometheus rules: well-formed, and reading only metrics the services export.
repository = pathlib.Path(__file__).resolve().parent.parent
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
print(f"manifests: {len(files)} file(s) and {rendered} rendered overlay(s) checked; "
      f"{alerts} alerting rule(s) in {len(rule_files)} file(s)")
