"""The deploy files, checked where this machine can check them: hadolint on the Dockerfile, the
compose specification's JSON schema on compose.yaml, Kubernetes' own schemas on the manifests
(all offline), and what the issue asks of them (init before the gateway, restarts, probes,
secrets as files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
BIN = Path(sys.executable).parent


def tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = BIN / name
    assert path.exists(), f"{name} is missing from the venv: scripts/bootstrap installs the dev dependencies"
    return subprocess.run([str(path), *args], capture_output=True, text=True, timeout=120, check=False)


def test_hadolint_passes_the_dockerfile_and_would_catch_a_bad_one(tmp_path: Path) -> None:
    result = tool("hadolint", str(DEPLOY / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nCMD gateway serve\n")
    assert tool("hadolint", str(bad)).returncode != 0


def test_compose_file_matches_the_compose_specification(tmp_path: Path) -> None:
    result = tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  gateway:\n    restart: sometimes\n    depends_on: { init: { condition: soon } }\n")
    assert tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(bad)).returncode != 0


def test_compose_runs_init_to_completion_first_and_restarts_the_gateway() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    gateway = compose["services"]["gateway"]
    assert gateway["depends_on"]["init"] == {"condition": "service_completed_successfully"}
    assert gateway["restart"] == "unless-stopped"
    for name in ("gateway", "init"):
        assert compose["services"][name]["environment"]["GATEWAY_DATABASE_PASSWORD_FILE"] == "/run/secrets/pg_password"
    env = (DEPLOY / "gateway.env.example").read_text()
    url = next(line for line in env.splitlines() if line.startswith("GATEWAY_DATABASE_URL="))
    assert ":" not in url.split("//", 1)[1].split("@", 1)[0], "no password inline in the URL"


def manifests() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "gateway.yaml").read_text()) if d]


def test_kubernetes_manifests_match_the_kubernetes_schemas(tmp_path: Path) -> None:
    result = tool("kubernetes-validate", "--strict", "--quiet", str(DEPLOY / "kubernetes" / "gateway.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n")
    assert tool("kubernetes-validate", "--strict", "--quiet", str(bad)).returncode != 0


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_kubernetes_mounts_secrets_as_files_and_probes_the_gateway(kind: str) -> None:
    by_kind = {d["kind"]: d for d in manifests()}
    spec = by_kind[kind]["spec"]["template"]["spec"]
    secrets = {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    assert secrets == {"gateway-keys", "gateway-database"}
    config = by_kind["ConfigMap"]["data"]
    assert config["GATEWAY_SECRETS_DIR"] == "/run/secrets/gateway"
    user = config["GATEWAY_DATABASE_URL"].split("//")[1].split("@")[0]
    assert user == "gateway", "no password inline in the URL"
    assert "gateway_database_password" in by_kind["Secret"]["stringData"]
    if kind == "Deployment":
        assert by_kind[kind]["spec"]["replicas"] == 2
        container = spec["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    else:
        assert spec["containers"][0]["command"] == ["gateway", "init"]
