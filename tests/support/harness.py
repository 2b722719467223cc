"""A gateway app on a test database, with principals whose private keys the test holds."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nacl.public import PrivateKey
from nacl.signing import SigningKey
from starlette.testclient import TestClient

from crypto.keys import encode_public_key
from gateway.app import create_app
from gateway.config import Settings
from gateway.principals.registry import PrincipalRegistry, Role
from gateway.services import Services
from tests.support.jwt import mint


@dataclass
class Actor:
    """A registered principal and its private keys."""

    id: str
    role: Role
    signing_key: SigningKey
    sealing_key: PrivateKey | None = None


class Harness:
    def __init__(self, settings: Settings, client: TestClient, services: Services) -> None:
        self.settings = settings
        self.client = client
        self.services = services
        self.bodies: list[str] = []  # every response body, for the plaintext guard

    def add(self, role: Role, principal_id: str, *, country: str = "DE") -> Actor:
        signing = SigningKey.generate()
        sealing = PrivateKey.generate() if role is Role.AUTHORITY else None
        PrincipalRegistry(self.services.db).add(
            role=role, principal_id=principal_id, name=principal_id.upper(),
            signing_key=encode_public_key(signing.verify_key),
            sealing_key=encode_public_key(sealing.public_key) if sealing else None,
            country=country if role is Role.AUTHORITY else None, now=int(time.time()))
        return Actor(principal_id, role, signing, sealing)

    def post(self, actor: Actor | None, query: str | None = None, *, variables: dict[str, Any] | None = None,
             body: bytes | None = None, token: str | None = None, order: str | None = None,
             headers: dict[str, str] | None = None, **mint_args: Any) -> Any:
        """POST /graphql; the token is minted over the exact body unless ``token`` is given."""
        if body is None:
            payload: dict[str, Any] = {"query": query}
            if variables is not None:
                payload["variables"] = variables
            body = json.dumps(payload).encode()
        sent = {"content-type": "application/json"}
        if token is None and actor is not None:
            token = mint(actor.signing_key, iss=actor.id, aud=self.settings.id, body=body, ord=order, **mint_args)
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        response = self.client.post("/graphql", content=body, headers=sent)
        self.bodies.append(response.text)
        return response

    def audit_size(self) -> int:
        from gateway.audit.checkpoints import log_size

        with self.services.db.engine.connect() as connection:
            return log_size(connection)


@contextmanager
def running_gateway(settings: Settings) -> Iterator[Harness]:
    services = Services.build(settings)
    app = create_app(settings, services=services)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield Harness(settings, client, services)
