"""A webhook receiver on loopback, written from the contract (docs/PROTOCOL.md §17.4) and the Standard
Webhooks spec alone: it verifies each delivery's v1a signature over ``{id}.{timestamp}.{body}`` with
the key discovery publishes, with PyNaCl directly (not the gateway's own recipe), and handles each
webhook-id once."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.live import free_port


@dataclass
class Receiver:
    """What arrived: every POST (``attempts``), the verified events by id (``events``), the ids seen
    more than once, and any delivery whose signature did not verify. ``answers`` are the statuses
    to give the next POSTs (then 200)."""

    keys: list[VerifyKey]
    url: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    repeated: list[str] = field(default_factory=list)
    unverified: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        webhook_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        if "." in webhook_id or not stamp.isdigit():
            return False
        content = webhook_id.encode() + b"." + stamp.encode() + b"." + body
        for item in headers.get("webhook-signature", "").split(" "):
            scheme, _, signature = item.partition(",")
            if scheme != "v1a":
                continue
            for key in self.keys:
                with contextlib.suppress(BadSignatureError, ValueError):
                    key.verify(content, base64.b64decode(signature, validate=True))
                    return True
        return False

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self.lock:
            self.attempts.append({"headers": headers, "body": body})
            if self.answers:
                return Response(status_code=self.answers.pop(0))
            if not self.verify(headers, body):
                self.unverified.append(headers)
                return Response(status_code=401)
            webhook_id = headers["webhook-id"]
            if webhook_id in self.events:
                self.repeated.append(webhook_id)  # handled once: acknowledged, not processed again
            else:
                self.events[webhook_id] = json.loads(body) | {"_received_at": time.time()}
        return Response(status_code=204)

    def wait_for(self, count: int, *, within: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.events) >= count:
                    return list(self.events.values())
            time.sleep(0.05)
        raise AssertionError(f"{len(self.events)} of {count} webhooks arrived in {within} s: {self.attempts}")


def verify_key_of(discovery: dict[str, Any]) -> VerifyKey:
    """The webhook key as discovery publishes it (``whpk_`` + base64), checked against gateway_signing_key."""
    published = discovery["webhook_public_key"]
    assert published.startswith("whpk_")
    raw = base64.b64decode(published.removeprefix("whpk_"), validate=True)
    assert raw == base64.b64decode(discovery["gateway_signing_key"])
    return VerifyKey(raw)


@contextlib.contextmanager
def receiving(keys: list[VerifyKey], *, port: int | None = None, path: str = "/hooks") -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (``port``, or a free one) in a thread, until the block ends."""
    receiver = Receiver(keys)
    port = port or free_port()
    app = Starlette(routes=[Route(path, receiver.handle, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the webhook receiver did not start"
        time.sleep(0.02)
    receiver.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(10)
