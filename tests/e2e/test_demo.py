"""`gateway demo run --exit`: the whole story against a live local server, twice on one data directory."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from gateway.subjects.synthetic import generate_subjects
from tests.support.live import GATEWAY, clean_env, free_port, run

pytestmark = pytest.mark.e2e


def test_demo_run_tells_the_story_and_a_second_run_reuses_everything(tmp_path: Path) -> None:
    env = clean_env(GATEWAY_DATA_DIR=str(tmp_path / "demo"))
    command = [*GATEWAY, "demo", "run", "--exit", "--subjects", "50"]
    first = run([*command, "--port", str(free_port())], env=env, cwd=tmp_path, timeout=60)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "refused: FIELD_NOT_PERMITTED: " in first.stdout
    # An opened, verified phone number of a seeded subject (the demo's seed is 7).
    phones = {re.sub(r"[^+\d]", "", s["phone"]) for s in generate_subjects(3, seed=7)}
    assert any(phone in first.stdout for phone in phones)
    assert "opened and verified 6 sealed values" in first.stdout
    assert "imported 50 subjects" in first.stdout
    assert first.stdout.count(": registered") == 3
    assert "including every request of this story" in first.stdout
    orders = re.findall(r"--order (ord_\w+)", first.stdout)
    assert orders
    # The last screen: the console's URL and the reviewers' key files to load in it.
    assert re.search(r"^http://127\.0\.0\.1:\d+/console/$", first.stdout, flags=re.M)
    for n in (1, 2):
        assert f"{tmp_path / 'demo' / 'demo-keys' / f'reviewer-{n}.sign.key'}" in first.stdout

    second = run([*command, "--port", str(free_port())], env=env, cwd=tmp_path, timeout=60)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already initialised" in second.stdout
    assert "not seeding again" in second.stdout
    assert second.stdout.count("already registered") == 3
    assert "reusing" in second.stdout
    assert "refused: FIELD_NOT_PERMITTED: " in second.stdout
    assert re.findall(r"--order (ord_\w+)", second.stdout)[0] != orders[0]


def test_demo_run_refuses_a_port_in_use_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run([*GATEWAY, "demo", "run", "--exit", "--subjects", "3", "--port", str(port)],
                   env=clean_env(GATEWAY_DATA_DIR=str(tmp_path / "demo")), cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert not (tmp_path / "demo").exists()
