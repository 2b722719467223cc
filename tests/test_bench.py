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
    gateway_ms, peer_ms, cryptography_ms = asyncio.run(bench_request_cpu.run(create_app(settings), setup, 3, 1))
    assert len(gateway_ms) == len(peer_ms) == len(cryptography_ms) == 1
    assert gateway_ms[0] > cryptography_ms[0] > 0 and peer_ms[0] > 0
    engine = sqlalchemy.create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            disclosed = connection.execute(sqlalchemy.text(
                "SELECT count(*) FROM audit_entries WHERE decision = 'disclosed'")).scalar_one()
    finally:
        engine.dispose()
    # The warm-up, the response whose sealed sizes the cryptography is timed at, and the round:
    # every request a real, audited disclosure.
    assert disclosed == 50 + 1 + 3


def test_a_missing_valgrind_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import bench_instructions

    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(SystemExit, match="apt-get install -y valgrind"):
        bench_instructions.need_valgrind()


def test_the_protocol_floor_reads_the_sealed_sizes_and_times_real_cryptography() -> None:
    import base64
    import json

    from nacl.exceptions import BadSignatureError
    from nacl.public import PrivateKey, SealedBox
    from nacl.signing import SigningKey

    from bench.protocol_floor import SEALED_BOX_OVERHEAD, protocol_cryptography_ms, ratio_bound, sealed_plaintext_sizes
    from crypto.tokens import create_token

    recipient = PrivateKey.generate()
    sealed = [base64.b64encode(bytes(SealedBox(recipient.public_key).encrypt(b"y" * n))).decode() for n in (300, 900)]
    response = json.dumps({"data": {"subject": {"phoneNumber": {"ciphertext": sealed[0]},
                                                "ipAddresses": {"ciphertext": sealed[1]}}}}).encode()
    assert sealed_plaintext_sizes(response) == [300, 900]
    assert len(base64.b64decode(sealed[0])) == 300 + SEALED_BOX_OVERHEAD
    with pytest.raises(ValueError, match="no sealed value"):
        sealed_plaintext_sizes(b'{"data": {"subject": null}}')

    authority = SigningKey.generate()
    token = create_token(authority, issuer="a", audience="g", body=b"{}", now=1_000, lifetime=60)
    assert protocol_cryptography_ms(token, authority.verify_key, [300, 900], 20) > 0
    with pytest.raises(BadSignatureError):  # the token is really verified
        protocol_cryptography_ms(token, SigningKey.generate().verify_key, [300], 1)
    assert ratio_bound(0.3, 0.3) == 0.5


def test_the_writer_benchmark_commits_real_batches_of_token_bearing_entries(settings: Settings) -> None:
    from bench import bench_writer_batch

    writer = bench_writer_batch.writer_for(settings)
    try:
        times = bench_writer_batch.batch_milliseconds(writer, 3, 2)
    finally:
        writer.close()
    assert len(times) == 2 and min(times) > 0
    engine = sqlalchemy.create_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            counts = connection.execute(sqlalchemy.text(
                "SELECT (SELECT count(*) FROM audit_entries WHERE decision = 'served'), "
                "(SELECT count(*) FROM seen_tokens)")).one()
    finally:
        engine.dispose()
    assert tuple(counts) == (3 * (5 + 2),) * 2  # the warm-up and the timed batches, each jti recorded
