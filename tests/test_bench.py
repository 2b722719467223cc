"""The benchmarks' own parts, kept tiny: the pre-filled log is a real one, and a missing wrk is
explained (the benchmarks themselves are not run here)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import sqlalchemy

from crypto.note import parse_verifier_key, verifier_key_string
from gateway.audit.checkpoints import note_name
from gateway.audit.verify import verify_log
from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import bench_disclosure
from bench.audit_fixture import fill_log


def test_the_prefilled_log_verifies_as_one_the_writer_made(settings: Settings) -> None:
    key = load_gateway_keys(settings).signing_key
    fill_log(settings.sqlalchemy_url, 600, key=key, origin=settings.origin, every_entries=64)
    verifier = parse_verifier_key(verifier_key_string(note_name(settings.origin), bytes(key.verify_key)))
    engine = sqlalchemy.create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            report = verify_log(connection, verifier, origin=settings.origin)
    finally:
        engine.dispose()
    assert (report.entries, report.checkpoints) == (600, 10)  # the empty tree's, from gateway init, and nine more


def test_a_missing_wrk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(SystemExit, match="apt-get install -y wrk"):
        bench_disclosure.need_wrk()


def test_the_cpu_benchmark_drives_real_disclosures_through_both_apps(settings: Settings) -> None:
    import asyncio

    from bench import bench_request_cpu
    from gateway.app import create_app

    setup = bench_disclosure.prepare(settings, 1)
    gateway_ms, peer_ms = asyncio.run(bench_request_cpu.run(create_app(settings), setup, 3, 1))
    assert len(gateway_ms) == len(peer_ms) == 1 and gateway_ms[0] > 0 and peer_ms[0] > 0
    engine = sqlalchemy.create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            disclosed = connection.execute(sqlalchemy.text(
                "SELECT count(*) FROM audit_entries WHERE decision = 'disclosed'")).scalar_one()
    finally:
        engine.dispose()
    assert disclosed == 50 + 3  # the warm-up and the round: every request a real, audited disclosure


def test_a_missing_valgrind_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import bench_instructions

    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(SystemExit, match="apt-get install -y valgrind"):
        bench_instructions.need_valgrind()
