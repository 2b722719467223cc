"""What the deploy files promise an operator beyond running: the Docker build context holds no keys
or data, the Kubernetes pods are within Pod Security "restricted" and kept available through a
drain, compose's containers hold no capabilities, and systemd hands secrets over as credentials."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"


def _pattern(glob: str) -> re.Pattern[str]:
    """Docker's .dockerignore pattern (Go filepath.Match, plus ``**`` for any number of directories)
    as a regex over a slash-separated path; a pattern also covers everything under what it matches."""
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif glob.startswith("**", i):
            out += ".*"
            i += 2
        elif glob[i] == "*":
            out += "[^/]*"
            i += 1
        elif glob[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(glob[i])
            i += 1
    return re.compile(f"^{out}(?:/.*)?$")


def ignored(path: str, lines: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last pattern that matches decides."""
    verdict = False
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.removeprefix("!").strip("/")
        if _pattern(glob).match(path):
            verdict = not negated
    return verdict


def test_the_build_context_keeps_keys_data_venv_and_tests_out() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    for path in ("var/keys/checkpoint.sign.key", "var/gateway.db", ".venv/bin/python", "tests/conftest.py",
                 ".git/HEAD", ".env", "deploy/pg_password.txt", "gw/keys/at_rest.key", "backup.age",
                 "gateway/keys/__pycache__/vault.cpython-311.pyc", "gateway/left.key", "crypto/.env"):
        assert ignored(path, lines), path


def test_the_build_context_holds_every_file_the_dockerfile_copies() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    sources = [word for line in (DEPLOY / "Dockerfile").read_text().splitlines()
               if line.startswith("COPY ") and "--from" not in line for word in line.split()[1:-1]]
    assert sources == ["pyproject.toml", "README.md", "requirements", "crypto", "client", "gateway"]
    tracked = subprocess.run(["git", "ls-files", *sources], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    assert len(tracked) > 50
    assert [path for path in tracked if ignored(path, lines)] == []


def _manifests() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "gateway.yaml").read_text()) if d]


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Pod Security Standards, "restricted" (kubernetes.io/docs/concepts/security/pod-security-standards),
    as they apply to this pod spec, plus no service-account token."""
    found: list[str] = []
    allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                       "projected", "secret"}
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= allowed_volumes:
            found.append(f"volume {volume['name']}: {kinds}")
    pod_context = pod.get("securityContext", {})
    if pod.get("automountServiceAccountToken") is not False:
        found.append("service-account token mounted")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(key)
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        name, context = container["name"], container.get("securityContext", {})
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name}: capabilities not all dropped")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds {capabilities['add']}")
        if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
            found.append(f"{name}: may run as root")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            found.append(f"{name}: runs as uid 0")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: no seccomp profile")
        if any("hostPort" in port for port in container.get("ports", [])):
            found.append(f"{name}: hostPort")
    return found


def test_every_kubernetes_pod_is_within_pod_security_restricted() -> None:
    pods = [d["spec"]["template"]["spec"] for d in _manifests() if d["kind"] in ("Deployment", "Job")]
    assert len(pods) == 2
    for pod in pods:
        assert restricted_violations(pod) == []
        # The keys reach the gateway owner-only, in a directory the non-root init container made.
        keys = next(m for c in pod["containers"] for m in c["volumeMounts"] if m["name"] == "keys")
        assert keys == {"name": "keys", "mountPath": "/var/lib/gateway/keys", "subPath": "keys"}
        assert "install -m 600" in " ".join(pod["initContainers"][0]["command"])
    # The check itself: the init container the manifests had, root with capabilities, fails it.
    rooted = dict(pods[0], automountServiceAccountToken=None)
    rooted["initContainers"] = [{"name": "keys", "securityContext": {
        "runAsNonRoot": False, "runAsUser": 0, "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["CHOWN", "DAC_OVERRIDE", "FOWNER"]}}}]
    assert len(restricted_violations(rooted)) == 4


def test_a_disruption_budget_keeps_a_gateway_pod_up_through_a_drain() -> None:
    by_kind = {d["kind"]: d for d in _manifests()}
    budget = by_kind["PodDisruptionBudget"]
    deployment = by_kind["Deployment"]
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["minAvailable"] == 1 < deployment["spec"]["replicas"]


def test_compose_drops_every_capability_and_says_how_to_back_up_the_keys() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    services = yaml.safe_load(text)["services"]
    for name in ("gateway", "init"):
        assert services[name]["cap_drop"] == ["ALL"], name
        assert services[name]["security_opt"] == ["no-new-privileges:true"], name
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert any("gateway keys backup" in line for line in comments)


def test_systemd_hands_the_database_password_over_as_a_credential() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "gateway.service")
    service = unit["Service"]
    name, _, source = service["LoadCredential"].partition(":")
    assert name == "gateway_database_password" and source.startswith("/etc/disclosure-gateway/")
    assert service["Environment"] == "GATEWAY_SECRETS_DIR=%d"
