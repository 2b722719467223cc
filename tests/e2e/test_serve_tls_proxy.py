"""`gateway serve --ssl-certfile/--ssl-keyfile --proxy-headers --forwarded-allow-ips` (docs/PROTOCOL.md §9)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.live import GATEWAY, clean_env, free_port, run, serving

PROXY = "127.0.0.1"  # the one allowed proxy
LIMIT = 2


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made here and now, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(PROXY))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Served:
    url: str
    trust: ssl.SSLContext

    def refusals(self, source: str, forwarded_for: str, count: int) -> list[int]:
        """``count`` unauthenticated requests from ``source`` claiming to forward ``forwarded_for``."""
        transport = httpx.HTTPTransport(local_address=source, verify=self.trust)
        with httpx.Client(transport=transport, timeout=10) as client:
            return [client.post(f"{self.url}/graphql", json={"query": "{ whoami { id } }"},
                                headers={"x-forwarded-for": forwarded_for}).status_code for _ in range(count)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(directory)
    env = clean_env(GATEWAY_DATA_DIR=str(directory / "var"), GATEWAY_RATE_LIMIT_PER_MINUTE=str(LIMIT))
    assert run([*GATEWAY, "init"], env=env, cwd=directory).returncode == 0
    trust = ssl.create_default_context(cafile=str(cert))
    args = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--proxy-headers", "--forwarded-allow-ips", PROXY]
    with serving(env, directory, free_port(), directory / "server.log", args=args, tls=trust) as url:
        yield Served(url, trust)


@pytest.mark.e2e
def test_serve_speaks_https_with_the_given_certificate(served: Served) -> None:
    assert served.url.startswith("https://")
    response = httpx.get(f"{served.url}/.well-known/disclosure-gateway", verify=served.trust, timeout=10)
    assert response.status_code == 200 and response.json()["gateway_id"]
    with pytest.raises(httpx.ConnectError):  # a client that does not trust the certificate is turned away
        httpx.get(f"{served.url}/healthz", timeout=10)


def within_one_window(attempt: Callable[[int], None]) -> None:
    """Run ``attempt(n)`` again, with fresh addresses, if a rate-limit window (aligned to the
    minute) closed while it ran: its counts then straddle two windows."""
    for n in range(2):
        minute = int(time.time()) // 60
        try:
            attempt(n)
        except AssertionError:
            if int(time.time()) // 60 == minute:
                raise
            continue
        return
    raise AssertionError("two rate-limit windows closed during the test")


@pytest.mark.e2e
def test_the_rate_limit_keys_by_the_forwarded_address_only_from_an_allowed_proxy(served: Served) -> None:
    def attempt(n: int) -> None:
        stranger = f"127.0.0.{2 + n}"  # also loopback, but not allowed to speak for others
        # From the proxy: each forwarded client has its own count.
        assert served.refusals(PROXY, f"198.51.100.{n}", LIMIT + 1) == [401] * LIMIT + [429]
        assert served.refusals(PROXY, f"198.51.100.{100 + n}", 1) == [401]
        # From anyone else the header is ignored: every claimed client shares the sender's count.
        assert served.refusals(stranger, f"203.0.113.{n}", LIMIT) == [401] * LIMIT
        assert served.refusals(stranger, f"203.0.113.{100 + n}", 1) == [429]

    within_one_window(attempt)
