"""The principals' side of the wire: a GraphQL client that signs every request (docs/PROTOCOL.md §2, §6, §8).

:class:`GatewayClient` reads the gateway's discovery document once, for the token audience and
the key that signs disclosure records, then sends each operation as one JSON body with a fresh
token bound to exactly those bytes. It never retries: a token is single use, and a refusal (4xx)
would only be refused again.

Every error is a :class:`~client.errors.ClientError` (see :mod:`client.errors`).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from nacl.signing import SigningKey, VerifyKey

from client.audit_ref import AuditRef
from client.errors import ClientError, GatewayRefused, GatewayResponseError, GatewayUnreachable
from crypto.errors import CryptoError
from crypto.keys import decode_signing_public_key, encode_public_key
from crypto.note import parse_verifier_key
from crypto.tokens import create_token

# httpx is imported where a connection is made or fails, not with this module: the commands'
# help (which imports every command) then does not pay for it.
if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_URL",
    "DISCOVERY_PATH",
    "TOKEN_LIFETIME_S",
    "ClientResult",
    "Discovery",
    "GatewayClient",
    "certificate_problem",
    "fetch_discovery",
    "is_loopback_url",
    "make_http_client",
    "tls_verify",
]

DEFAULT_URL: Final = "http://127.0.0.1:8080"
DISCOVERY_PATH: Final = "/.well-known/disclosure-gateway"
TOKEN_LIFETIME_S: Final = 60
"""Long enough for a slow link and a clock a little off; far inside the gateway's 300 s cap."""


@dataclass(frozen=True)
class ClientResult:
    """A served operation: its ``data``, its audit reference and the exact response bytes (what
    ``gateway query --save`` keeps, so a saved response can be re-verified later)."""

    data: dict[str, Any]
    audit: AuditRef | None
    raw: bytes


@dataclass(frozen=True)
class Discovery:
    """The parts of ``/.well-known/disclosure-gateway`` (docs/PROTOCOL.md §8) a client relies on.

    ``gateway_signing_key`` is the key that signs disclosure records and checkpoints; it is taken
    from ``gateway_signing_key`` when present and must then equal the key inside
    ``checkpoint_verifier_key`` (the field §8 requires), so the two can never disagree silently.
    """

    gateway_id: str
    gateway_signing_key: VerifyKey
    checkpoint_origin: str
    checkpoint_verifier_key: str
    approvals_required: int | None
    document: Mapping[str, Any]

    @classmethod
    def from_json(cls, document: object, *, source: str) -> Discovery:
        """Parse a discovery document; raise :class:`ClientError` naming ``source`` when it is unusable."""
        if not isinstance(document, Mapping):
            raise ClientError(f"the discovery document at {source} is not a JSON object")
        gateway_id = document.get("gateway_id")
        origin = document.get("checkpoint_origin")
        verifier_text = document.get("checkpoint_verifier_key")
        if not isinstance(gateway_id, str) or not gateway_id:
            raise ClientError(f"the discovery document at {source} has no gateway_id")
        if not isinstance(origin, str) or not isinstance(verifier_text, str):
            raise ClientError(f"the discovery document at {source} lacks checkpoint_origin or "
                              "checkpoint_verifier_key")
        try:
            from_verifier = VerifyKey(parse_verifier_key(verifier_text).public_key)
            listed = document.get("gateway_signing_key")
            key = from_verifier if listed is None else decode_signing_public_key(str(listed))
        except CryptoError as exc:
            raise ClientError(f"the discovery document at {source} has an unusable key: {exc.message}") from exc
        if bytes(key) != bytes(from_verifier):
            raise ClientError(f"the discovery document at {source} names two different gateway keys "
                              "(gateway_signing_key and checkpoint_verifier_key); refusing to trust either")
        approvals = document.get("approvals_required")
        return cls(gateway_id=gateway_id, gateway_signing_key=key, checkpoint_origin=origin,
                   checkpoint_verifier_key=verifier_text,
                   approvals_required=approvals if type(approvals) is int else None, document=dict(document))


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this host (where plain HTTP cannot be intercepted on the way)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")


def _normalise_base(base_url: str) -> str:
    base = base_url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ClientError(f"{base_url!r} is not a gateway URL; give one like {DEFAULT_URL}")
    return base


def tls_verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    """What verifies the gateway's certificate: the system's trust store, or (``--cacert FILE``,
    ``GATEWAY_CA_FILE``) only the certificates in ``ca_file``. Raises :class:`ClientError`."""
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except FileNotFoundError:
        raise ClientError(f"--cacert {ca_file}: no such file; give the PEM file of the certificate "
                          "(or of the CA) that signed the gateway's certificate") from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ClientError(f"--cacert {ca_file}: not a PEM certificate file ({type(exc).__name__}); give the "
                          "certificate (or the CA) that signed the gateway's certificate, in PEM") from None


def make_http_client(*, timeout: float, ca_file: Path | None = None) -> httpx.Client:
    """The HTTP client every call goes through: no redirects, ``timeout``, and ``ca_file`` (if any)
    as the only trusted certificates."""
    import httpx

    return httpx.Client(follow_redirects=False, timeout=timeout, verify=tls_verify(ca_file))


def certificate_problem(exc: BaseException) -> str | None:
    """The reason a TLS certificate did not verify (OpenSSL's words: "self-signed certificate",
    "certificate has expired", "Hostname mismatch, ..."), found down the chain of causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return str(current.verify_message or current.reason or "certificate verify failed")
        current = current.__cause__ or current.__context__
    # httpx keeps only the text of the error of the TLS layer below it.
    text = str(exc)
    marker = "certificate verify failed: "
    if marker in text:
        return text.split(marker, 1)[1].split(" (_ssl.c", 1)[0].strip() or "certificate verify failed"
    return None


def _transport_error(exc: httpx.HTTPError, url: str, timeout: float) -> ClientError:
    import httpx

    problem = certificate_problem(exc)
    if problem is not None:
        return GatewayUnreachable(
            f"the gateway at {url} presented a TLS certificate that does not verify: {problem}; if the "
            "certificate (or its CA) is your own, pass its PEM file with --cacert FILE (or GATEWAY_CA_FILE); "
            "if it is not, you may not be talking to the gateway")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return GatewayUnreachable(f"cannot connect to the gateway at {url}; is it running? Start it with "
                                  "`gateway serve`, or point --url (or GATEWAY_URL) at where it runs")
    if isinstance(exc, httpx.TimeoutException):
        return GatewayUnreachable(f"the gateway at {url} did not answer within {timeout:g} s; the request may "
                                  "still have been processed, so check before sending it again")
    if isinstance(exc, httpx.TransportError):
        return GatewayUnreachable(f"the connection to the gateway at {url} failed ({type(exc).__name__}); "
                                  "is it running? Start it with `gateway serve`")
    return ClientError(f"the request to {url} could not be made ({type(exc).__name__}); check the URL")


def _get(client: httpx.Client, url: str, timeout: float) -> httpx.Response:
    import httpx

    try:
        return client.get(url)
    except httpx.HTTPError as exc:
        raise _transport_error(exc, url, timeout) from exc


def fetch_discovery(base_url: str, *, timeout: float = 10, http_client: httpx.Client | None = None,
                    ca_file: Path | None = None) -> Discovery:
    """``GET /.well-known/disclosure-gateway`` and parse it (``timeout`` and ``ca_file`` apply
    unless ``http_client`` is given). Raises :class:`ClientError`."""
    base = _normalise_base(base_url)
    url = base + DISCOVERY_PATH
    client = http_client or make_http_client(timeout=timeout, ca_file=ca_file)
    try:
        response = _get(client, url, timeout)
    finally:
        if http_client is None:
            client.close()
    if response.status_code != 200:
        raise GatewayResponseError(f"{url} answered HTTP {response.status_code}; is {base} a disclosure gateway?")
    try:
        document = response.json()
    except ValueError as exc:
        raise GatewayResponseError(f"{url} did not answer with JSON; is {base} a disclosure gateway?") from exc
    return Discovery.from_json(document, source=url)


class GatewayClient:
    """Signed GraphQL calls to one gateway as one principal.

    ``audience`` defaults to the discovery document's ``gateway_id``. ``gateway_key``, when given,
    pins the gateway's signing key: discovery that names another key is refused (use it whenever
    the URL is not loopback or HTTPS, because a key learnt over plain HTTP proves nothing).
    ``http_client`` lets tests pass an in-process client (Starlette's ``TestClient`` is one),
    which then brings its own timeout; ``ca_file`` is the only trusted certificate otherwise. ``clock``
    returns Unix seconds, so tests never patch the time.
    """

    def __init__(self, base_url: str, principal_id: str, signing_key: SigningKey, *, audience: str | None = None,
                 timeout: float = 10, gateway_key: VerifyKey | None = None,
                 http_client: httpx.Client | None = None, clock: Callable[[], float] = time.time,
                 ca_file: Path | None = None) -> None:
        if not isinstance(signing_key, SigningKey):
            raise ClientError("the signing key must be a nacl.signing.SigningKey (read it with read_signing_key)")
        self.base_url = _normalise_base(base_url)
        self.principal_id = principal_id
        self.timeout = timeout
        self._signing_key = signing_key
        self._audience = audience
        self._pinned = gateway_key
        self._clock = clock
        self._owns_http = http_client is None
        # The timeout lives on the client it makes; a client passed in brings its own.
        self._http = http_client or make_http_client(timeout=timeout, ca_file=ca_file)
        self._discovery: Discovery | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- discovery ------------------------------------------------------------------------------

    @property
    def discovery(self) -> Discovery:
        """The discovery document, fetched on first use and then kept. Raises :class:`ClientError`."""
        if self._discovery is None:
            found = fetch_discovery(self.base_url, timeout=self.timeout, http_client=self._http)
            if self._pinned is not None and bytes(found.gateway_signing_key) != bytes(self._pinned):
                raise ClientError(
                    f"the gateway at {self.base_url} presents the signing key "
                    f"{encode_public_key(found.gateway_signing_key)}, not the pinned key "
                    f"{encode_public_key(self._pinned)}; refusing to trust it")
            self._discovery = found
        return self._discovery

    @property
    def audience(self) -> str:
        """The token audience: as given, or the gateway's ``gateway_id``."""
        return self._audience if self._audience is not None else self.discovery.gateway_id

    @property
    def gateway_key(self) -> VerifyKey:
        """The key that signs disclosure records: the pinned key, or the one discovery names."""
        return self._pinned if self._pinned is not None else self.discovery.gateway_signing_key

    # -- calls ----------------------------------------------------------------------------------

    def execute(self, query: str, variables: Mapping[str, Any] | None = None, *,
                order_id: str | None = None) -> ClientResult:
        """Send one operation; return its result or raise.

        The body is serialised once and the token signs the SHA-256 of exactly those bytes, with
        a new ``jti`` and a 60 s lifetime; ``order_id`` becomes the ``ord`` claim (an authority's
        subject queries). Raises :class:`GatewayRefused` for a §6 error body,
        :class:`GatewayUnreachable`, :class:`GatewayResponseError` or :class:`ClientError`.
        """
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = dict(variables)
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        try:
            token = create_token(self._signing_key, issuer=self.principal_id, audience=self.audience, body=body,
                                 now=int(self._clock()), lifetime=TOKEN_LIFETIME_S, order_id=order_id)
        except CryptoError as exc:
            raise ClientError(f"cannot make a request token: {exc.message}") from exc
        import httpx

        url = self.base_url + "/graphql"
        headers = {"content-type": "application/json", "accept": "application/json",
                   "authorization": f"Bearer {token}"}
        try:
            response = self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, url, self.timeout) from exc
        return _result(response, url)

    def checkpoint(self) -> str | None:
        """The latest signed checkpoint (``GET /audit/checkpoint``) as text, or ``None`` if the
        gateway has signed none yet. The caller verifies it (``crypto.note.verify_checkpoint``)."""
        url = self.base_url + "/audit/checkpoint"
        response = _get(self._http, url, self.timeout)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise GatewayResponseError(f"{url} answered HTTP {response.status_code}")
        return response.text


def _result(response: httpx.Response, url: str) -> ClientResult:
    raw = response.content
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise GatewayResponseError(f"{url} answered HTTP {response.status_code} with a body that is not JSON; "
                                   "is a proxy in the way?") from None
    if not isinstance(document, dict):
        raise GatewayResponseError(f"{url} answered HTTP {response.status_code} with JSON that is not an object")
    extensions = document.get("extensions")
    audit = AuditRef.from_json(extensions.get("audit") if isinstance(extensions, dict) else None)
    errors = document.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        ext = first.get("extensions")
        code = ext.get("code") if isinstance(ext, dict) else None
        message = first.get("message")
        raise GatewayRefused(code if isinstance(code, str) and code else "UNKNOWN",
                             message if isinstance(message, str) else "(no message)", response.status_code, audit)
    data = document.get("data")
    if response.status_code != 200 or not isinstance(data, dict):
        raise GatewayResponseError(f"{url} answered HTTP {response.status_code} without data or a §6 error")
    return ClientResult(data=data, audit=audit, raw=raw)
