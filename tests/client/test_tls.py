"""HTTPS the client cannot verify: the message names the certificate's problem and `--cacert`
(or ``GATEWAY_CA_FILE``), exit 4; with ``--cacert`` naming the gateway's certificate it works.
The gateway is the real app behind a real TLS listener on loopback, with a certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner, Result

from client.cli.main import app as client_app
from crypto.keys import write_key_file
from gateway.cli.main import app as gateway_app
from tests.support.harness import Harness
from tests.support.live import free_port
from tests.support.world import World

NOW = datetime.datetime.now(datetime.UTC)


def certificate(directory: Path, *, name: str, address: str = "127.0.0.1",
                not_after: datetime.datetime = NOW + datetime.timedelta(days=1)) -> tuple[Path, Path]:
    """A self-signed certificate for ``address``, valid until ``not_after``, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway.test")])
    built = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(NOW - datetime.timedelta(days=2)).not_valid_after(not_after)
             .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                            critical=False)
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def serving_tls(harness: Harness, cert: Path, key: Path) -> Iterator[str]:
    """The harness's app (already started) behind uvicorn's TLS on a loopback port; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(harness.client.app, host="127.0.0.1", port=port, lifespan="off",
                                           ssl_certfile=str(cert), ssl_keyfile=str(key), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)  # not a sleep: returns as soon as uvicorn is listening (or has died)
    assert server.started, "uvicorn did not start"
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def authority_key(world: World, tmp_path: Path) -> Path:
    write_key_file(tmp_path / "authority.sign.key", "ed25519-signing", bytes(world.authority.signing_key))
    return tmp_path / "authority"


def _list(world: World, key: Path, url: str, *extra: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(client_app, ["request", "list", "--id", world.authority.id, "--key", str(key),
                                           "--url", url, *extra], env=env)


def _said(result: Result) -> str:
    return " ".join(result.stderr.replace("│", " ").split())


@pytest.mark.parametrize(("kind", "problem"), [
    ("self-signed", "self-signed certificate"),
    ("expired", "certificate has expired"),
    ("another host", "IP address mismatch"),
])
def test_a_certificate_that_does_not_verify_is_named_and_cacert_offered(
        world: World, gateway: Harness, authority_key: Path, tmp_path: Path, kind: str, problem: str) -> None:
    if kind == "expired":
        cert, key = certificate(tmp_path, name="tls", not_after=NOW - datetime.timedelta(days=1))
    elif kind == "another host":
        cert, key = certificate(tmp_path, name="tls", address="127.0.0.2")
    else:
        cert, key = certificate(tmp_path, name="tls")
    with serving_tls(gateway, cert, key) as url:
        # Self-signed is what the system's trust store says; trusting the certificate itself
        # (--cacert) leaves the expiry and the host as the problems they are.
        result = _list(world, authority_key, url, *([] if kind == "self-signed" else ["--cacert", str(cert)]))
    assert result.exit_code == 4, result.output
    said = _said(result)
    assert problem in said
    assert "--cacert FILE (or GATEWAY_CA_FILE)" in said
    assert "is it running" not in said


def test_cacert_trusts_the_gateways_own_certificate(world: World, gateway: Harness, authority_key: Path,
                                                    tmp_path: Path) -> None:
    cert, key = certificate(tmp_path, name="tls")
    with serving_tls(gateway, cert, key) as url:
        by_option = _list(world, authority_key, url, "--cacert", str(cert), "--json")
        by_environment = _list(world, authority_key, url, "--json", env={"GATEWAY_CA_FILE": str(cert)})
    assert by_option.exit_code == 0, by_option.output
    assert by_environment.exit_code == 0, by_environment.output
    assert by_option.stdout.strip().startswith("[")


def test_a_cacert_that_is_not_a_certificate_is_named(world: World, authority_key: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    missing = _list(world, authority_key, "https://127.0.0.1:1", "--cacert", str(tmp_path / "gone.pem"))
    garbage = _list(world, authority_key, "https://127.0.0.1:1", "--cacert", str(tmp_path / "notes.txt"))
    assert missing.exit_code == 2 and "gone.pem: no such file" in _said(missing)
    assert garbage.exit_code == 2 and "notes.txt: not a PEM certificate file" in _said(garbage)


def test_the_monitor_names_the_certificate_problem_and_trusts_cacert(gateway: Harness, tmp_path: Path) -> None:
    log_key = gateway.client.get("/.well-known/disclosure-gateway").json()["checkpoint_verifier_key"]
    cert, key = certificate(tmp_path, name="tls")
    runner = CliRunner()
    with serving_tls(gateway, cert, key) as url:
        args = ["audit", "monitor", url, "--state", str(tmp_path / "state"), "--log-key", log_key]
        untrusted = runner.invoke(gateway_app, args)
        trusted = runner.invoke(gateway_app, [*args, "--cacert", str(cert)])
        untrusted_json = runner.invoke(gateway_app, [*args, "--json"])
        trusted_json = runner.invoke(gateway_app, [*args, "--cacert", str(cert), "--json"])
    assert untrusted.exit_code == 2, untrusted.output
    assert "self-signed certificate" in _said(untrusted) and "--cacert FILE" in _said(untrusted)
    assert trusted.exit_code == 0, trusted.output
    # --json: one object a check, on stdout.
    assert untrusted_json.exit_code == 2
    error = json.loads(untrusted_json.stdout)
    assert error["result"] == "error" and "self-signed certificate" in error["message"]
    assert trusted_json.exit_code == 0, trusted_json.output
    report = json.loads(trusted_json.stdout)
    assert set(report) == {"result", "tree_size", "previous_size", "cosigned_by", "entries_checked"}
    assert report["result"] == "consistent" and report["previous_size"] == report["tree_size"]
