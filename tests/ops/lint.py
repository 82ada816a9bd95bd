"""The offline operations gate `make ops-lint` runs (and `make test` through it): every linter
on the repository's own files with zero findings, then each linter against a deliberately broken
fixture, which it must reject for the reason the fixture was broken for. A linter that accepts
its broken fixture is as much a failure as one that rejects our files: it would prove nothing.

  yamllint             every YAML file (.yamllint.yaml) and every overlay as kubectl kustomize
                       renders it
  kubernetes-validate  strict schema validation of every rendered overlay against the pinned
                       Kubernetes minor (custom resources have no schema there: tests/manifests.py
                       checks ServiceMonitors and PrometheusRules instead)
  hadolint             docker/*.Dockerfile
  actionlint           .github/workflows (with shellcheck on their run: scripts)
  shellcheck           scripts/, bench/, tests/contract/ and .ci/run
  zizmor --offline     .github/workflows (pedantic persona)
  docker-compose       deploy/compose.yaml (`config`: the schema, interpolation, references),
                       also that it refuses to start without VELOCAST_JWT_SECRET
  tests/manifests.py   the policies no linter covers
  docs/deploy.md       every kubectl command in it names an overlay, namespace, object,
                       container, Secret key or log line the manifests and the code have

Tools come from .velocast/py (scripts/setup.sh installs them); kubectl from the machine.
Exits 1 naming every problem."""

import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
TOOLS = REPO / ".velocast" / "py" / "bin"
FIXTURES = REPO / "tests" / "ops" / "fixtures"
KUBERNETES_MINOR = "1.32.0"  # the oldest minor the manifests promise to run on (kubectl here: 1.32)
ENV = dict(os.environ, PATH=f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}", NO_COLOR="1")

problems = []
passed = []


def tool(name):
    path = TOOLS / name
    if not path.exists():
        sys.exit(f"ops-lint: {path} is missing: run scripts/setup.sh (make setup)")
    return str(path)


def run(argv, stdin=None):
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=REPO, env=ENV)
    return result.returncode, (result.stdout + result.stderr).strip()


def clean(what, argv, stdin=None):
    """Our own files: the tool must exit 0."""
    code, output = run(argv, stdin)
    if code != 0:
        problems.append(f"{what}: findings (exit {code}):\n    " + output.replace("\n", "\n    "))
    else:
        passed.append(what)


def rejects(what, argv, expected, stdin=None):
    """A broken fixture: the tool must fail and name every expected finding."""
    code, output = run(argv, stdin)
    missing = [finding for finding in expected if finding not in output]
    if code == 0 or missing:
        problems.append(f"{what}: the broken fixture was not rejected as expected "
                        f"(exit {code}, missing {missing}):\n    " + output.replace("\n", "\n    "))
    else:
        passed.append(f"{what} (rejected: {', '.join(expected)})")


def render(overlay):
    result = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        problems.append(f"kubectl kustomize {overlay.relative_to(REPO)}: {result.stderr.strip()}")
        return None
    return result.stdout


def without_custom_resources(rendered):
    """The rendered documents kubernetes-validate has schemas for (the built-in API groups)."""
    import yaml

    documents = [d for d in yaml.safe_load_all(rendered) if d]
    kept = [d for d in documents if "." not in d.get("apiVersion", "").split("/")[0]
            or d["apiVersion"].split("/")[0].endswith(".k8s.io")]
    return yaml.safe_dump_all(kept, sort_keys=False)


def kubectl_commands(markdown):
    """The kubectl commands of a Markdown page: lines of its code blocks (with `\\`
    continuations joined) and inline code spans, comments dropped."""
    commands = []
    blocks = re.findall(r"```[a-z]*\n(.*?)```", markdown, re.S)
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("kubectl "):
                commands.append(line)
    prose = re.sub(r"```.*?```", "", markdown, flags=re.S).replace("\n", " ")
    commands += [c.strip() for c in re.findall(r"`(kubectl [^`]*)`", prose)]
    return commands


def walk(value):
    """Every mapping inside a parsed YAML value."""
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from walk(child)


def deploy_doc_findings(doc, sources):
    """What is wrong with the kubectl commands of `doc` against the rendered overlays, and how
    many commands were checked."""
    import yaml

    overlays = {}
    for path in sorted((REPO / "k8s" / "overlays").glob("*/kustomization.yaml")):
        text = render(path.parent)
        if text is None:
            return ["an overlay failed to render"], 0
        documents = [d for d in yaml.safe_load_all(text) if d]
        namespace = yaml.safe_load(path.read_text()).get("namespace")
        overlays[namespace] = {(d["kind"].lower(), d["metadata"]["name"]): d for d in documents}
    found, checked = [], 0
    for command in kubectl_commands(doc.read_text()):
        pipeline = command.split("|")
        words = shlex.split(pipeline[0].replace("<sha>", "SHA"))
        namespace = words[words.index("-n") + 1] if "-n" in words else "velocast"
        objects = overlays.get(namespace)
        if objects is None:
            found.append(f"{command!r}: no overlay deploys to namespace {namespace!r}")
            continue
        checked += 1
        references = [w.split("=", 1)[-1] for w in words if re.fullmatch(r"(--from=)?[a-z]+/[a-z0-9-]+", w)]
        verbs = ("edit", "get", "describe", "delete")
        for verb_at, word in enumerate(words[:-2]):
            if word in verbs and words[verb_at + 1] in ("configmap", "job", "deployment", "cronjob", "secret"):
                references.append(f"{words[verb_at + 1]}/{words[verb_at + 2]}")
        for reference in references:
            kind, name = reference.split("/")
            if (kind, name) not in objects:
                found.append(f"{command!r}: the {namespace} overlay has no {kind}/{name}")
        if "set" in words and "image" in words[:-2]:
            deployment = objects.get(tuple(words[words.index("image") + 1].split("/")))
            container = words[words.index("image") + 2].split("=")[0]
            names = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]] if deployment else []
            if container not in names:
                found.append(f"{command!r}: no container {container!r} (has {names})")
        if words[1:3] == ["create", "namespace"] or words[3:5] == ["create", "namespace"]:
            if words[-1] not in overlays:
                found.append(f"{command!r}: no overlay uses namespace {words[-1]!r}")
        if "secret" in words and "generic" in words:
            name = words[words.index("generic") + 1] if "generic" in words[:-1] else ""
            wanted = set()
            for node in walk(list(objects.values())):
                ref = node.get("secretKeyRef")
                if isinstance(ref, dict) and ref.get("name") == name:
                    wanted.add(ref.get("key"))
                volume = node.get("secret")
                if isinstance(volume, dict) and volume.get("secretName") == name:
                    wanted |= {item["key"] for item in volume.get("items", [])} or {"*"}
            if not wanted:
                found.append(f"{command!r}: no workload reads Secret {name}")
            for given in re.findall(r"--from-(?:literal|file)=([^=]+)=", pipeline[0]):
                if "*" not in wanted and given not in wanted:
                    found.append(f"{command!r}: Secret {name} key {given!r} is read by nothing (wanted {sorted(wanted)})")
        overlay = words[words.index("-k") + 1] if "-k" in words[:-1] else None  # prose may name the bare flag
        if overlay and not (REPO / overlay / "kustomization.yaml").exists():
            found.append(f"{command!r}: no kustomization at {overlay}")
        for grep in pipeline[1:]:
            message = shlex.split(grep)[-1]
            if message not in sources:
                found.append(f"{command!r}: no service logs {message!r}")
    return found, checked


kubectl = shutil.which("kubectl")
if not kubectl:
    sys.exit("ops-lint: kubectl is needed to render the overlays (kubectl kustomize)")

yamllint, validate = tool("yamllint"), tool("kubernetes-validate")
hadolint, actionlint = tool("hadolint"), tool("actionlint")
shellcheck, zizmor = tool("shellcheck"), tool("zizmor")
rendered_rules = '{extends: .yamllint.yaml, rules: {line-length: disable}}'  # kustomize's lines, not ours

# --- Our files: zero findings ---------------------------------------------------------------
clean("yamllint .", [yamllint, "--strict", "."])
for overlay in sorted((REPO / "k8s" / "overlays").glob("*/kustomization.yaml")):
    name = overlay.parent.relative_to(REPO)
    text = render(overlay.parent)
    if text is None:
        continue
    clean(f"yamllint {name} (rendered)", [yamllint, "--strict", "-d", rendered_rules, "-"], text)
    clean(f"kubernetes-validate --strict {name} (rendered)",
          [validate, "--strict", "--quiet", "-k", KUBERNETES_MINOR, "-"], without_custom_resources(text))
clean("hadolint docker/", [hadolint, *map(str, sorted((REPO / "docker").glob("*.Dockerfile")))])
clean("actionlint .github/workflows", [actionlint, *map(str, sorted((REPO / ".github" / "workflows").glob("*.yml")))])
shell_scripts = sorted(str(p) for d in ("scripts", "bench", "tests/contract") for p in (REPO / d).glob("*.sh"))
clean("shellcheck scripts", [shellcheck, *shell_scripts, str(REPO / ".ci" / "run")])
clean("zizmor --offline .github/workflows", [zizmor, "--offline", "--persona", "pedantic", "-q", ".github/workflows"])
compose = shutil.which("docker-compose")
if not compose:
    sys.exit("ops-lint: docker-compose is missing: run scripts/setup.sh (make setup)")
compose_file = str(REPO / "deploy" / "compose.yaml")
ENV["VELOCAST_JWT_SECRET"] = "ops-lint-" + "0" * 32  # interpolation only; nothing starts
clean("docker-compose config deploy/compose.yaml", [compose, "-f", compose_file, "config", "-q"])
del ENV["VELOCAST_JWT_SECRET"]
rejects("docker-compose without VELOCAST_JWT_SECRET", [compose, "-f", compose_file, "config", "-q"],
        ["export VELOCAST_JWT_SECRET"])
rust_sources = "\n".join(p.read_text() for p in REPO.glob("services/*/src/**/*.rs"))
found, checked = deploy_doc_findings(REPO / "docs" / "deploy.md", rust_sources)
if found or checked < 10:
    problems.append(f"docs/deploy.md ({checked} kubectl commands):\n    " + "\n    ".join(found or ["too few commands found"]))
else:
    passed.append(f"docs/deploy.md: {checked} kubectl commands name real objects")
clean("tests/manifests.py k8s/", [sys.executable, str(REPO / "tests" / "manifests.py")])

# --- Broken fixtures: each rejected, for its reasons ----------------------------------------
broken_k8s = FIXTURES / "broken-k8s"
text = render(broken_k8s / "overlays" / "broken")
if text is not None:
    rejects("kubernetes-validate on a misspelt field", [validate, "--strict", "-k", KUBERNETES_MINOR, "-"],
            ["'replica' was unexpected"], text)
rejects("yamllint on a duplicated key and trailing spaces",
        [yamllint, "--strict", "-c", str(REPO / ".yamllint.yaml"), str(broken_k8s / "base" / "indentation.yaml")],
        ["key-duplicates", "trailing-spaces"])
rejects("tests/manifests.py on an unsafe Deployment", [sys.executable, str(REPO / "tests" / "manifests.py"), str(broken_k8s)],
        ["readOnlyRootFilesystem must be true", "must carry a tag other than latest", "has no PodDisruptionBudget",
         "is selected by no NetworkPolicy", "no default-deny NetworkPolicy", "no preStop sleep",
         "readinessProbe must GET /health/ready", "a memory limit is required",
         "terminationGracePeriodSeconds 20 must exceed preStop 5 s", "blocks every node drain",
         "seccompProfile must be RuntimeDefault"])
rejects("hadolint on a careless Dockerfile", [hadolint, str(FIXTURES / "broken.Dockerfile")],
        ["DL3007", "DL3008", "DL3009", "DL3015", "DL3003", "DL4006"])
broken_workflows = FIXTURES / "broken-workflows" / ".github" / "workflows"
rejects("actionlint on a broken workflow", [actionlint, str(broken_workflows / "broken.yml")],
        ["[runner-label]", "potentially untrusted", "SC2045"])
rejects("zizmor on an unsafe workflow", [zizmor, "--offline", "--persona", "pedantic", str(broken_workflows)],
        ["unpinned-uses", "template-injection", "dangerous-triggers", "excessive-permissions"])

found, _ = deploy_doc_findings(FIXTURES / "broken-deploy.md", rust_sources)
expected = ["no deployment/velocast-gatway", "no container 'gw'", "key 'DB_URL' is read by nothing",
            "no service logs 'routes swapped'", "no overlay deploys to namespace 'staging'"]
missing = [e for e in expected if not any(e in f for f in found)]
if missing:
    problems.append(f"docs check on a broken page: missed {missing} (found {found})")
else:
    passed.append(f"docs check on a broken page (rejected: {len(found)} findings)")
rejects("docker-compose on a misspelt key", [compose, "-f", str(FIXTURES / "broken-compose.yaml"), "config", "-q"],
        ["restart_policy"])

for line in passed:
    print(f"ops-lint: ok  {line}")
if problems:
    print("ops-lint: FAILED\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"ops-lint: {len(passed)} checks passed")
