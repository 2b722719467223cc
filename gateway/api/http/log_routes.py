"""The log for outsiders (docs/PROTOCOL.md §15): ``GET /audit/checkpoint`` and C2SP tlog-tiles.

``/audit/checkpoint`` and the hash tiles ``/audit/tile/<L>/<N>[.p/<W>]`` are public: they are
hashes. The entry bundles ``/audit/tile/entries/<N>[.p/<W>]`` hold who asked about which subject id,
so they need an auditor's signed token (docs/PROTOCOL.md §2), bound to the empty body of the GET
(``body_sha256`` = SHA-256 of zero bytes) and single use like every token. Refusals are §6 bodies
with their codes; a tile the log does not (yet) hold is a plain 404. These reads are not audit
entries, like checkpoint reads: a log that logged its monitors' reads would grow under them forever.
Entry bundles are gzip-coded when the client's ``Accept-Encoding`` takes gzip (tlog-tiles: they
SHOULD be compressed at the HTTP layer), hash tiles never (hashes do not compress).
"""

from __future__ import annotations

import gzip

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from crypto.errors import CryptoError
from crypto.tiles import TileRef, parse_tile_path
from gateway.api.http.content_coding import accepts_gzip
from gateway.api.http.endpoint import error_body
from gateway.audit.cosigned import published_checkpoint
from gateway.audit.tiles import entry_bundle, hash_tile
from gateway.errors import AuditUnavailable, BadRequest, ForbiddenRole, GatewayError
from gateway.principals.authenticate import authenticate
from gateway.principals.registry import Role
from gateway.services import Services

__all__ = ["LogEndpoints"]

_IMMUTABLE = "public, max-age=31536000, immutable"


class LogEndpoints:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.witness_names = [w.vkey.split("+", 1)[0] for w in services.settings.witness_list]

    async def checkpoint(self, _: Request) -> Response:
        note = await run_in_threadpool(self._published)
        if note is None:
            error = AuditUnavailable("no checkpoint is signed yet; retry in a second")
            return JSONResponse(error_body(error), status_code=error.status)
        return PlainTextResponse(note, headers={"cache-control": "no-cache, max-age=1"})

    def _published(self) -> str | None:
        with self.services.db.engine.connect() as connection:
            return published_checkpoint(connection, quorum=self.services.settings.quorum,
                                        witnesses=self.witness_names)

    async def tile(self, request: Request) -> Response:
        try:
            tile = parse_tile_path(request.path_params["path"])
        except CryptoError as exc:
            return _refusal(BadRequest(f"not a tile path: {exc.message}"))
        if tile.level is None:
            try:
                await run_in_threadpool(self._authorize_auditor, request.headers.get("authorization"))
            except GatewayError as exc:
                return _refusal(exc)
        try:
            data = await run_in_threadpool(self._read, tile)
        except CryptoError:  # an entry over the format's 65,535 bytes: none is, but never a 500
            return _refusal(AuditUnavailable("this entry bundle cannot be encoded"))
        if data is None:
            return PlainTextResponse("the log does not hold this tile (yet)\n", status_code=404)
        if tile.level is not None:
            return Response(data, media_type="application/octet-stream", headers={"cache-control": _IMMUTABLE})
        headers = {"cache-control": "private, no-store", "vary": "Accept-Encoding"}
        if accepts_gzip(request.headers.get("accept-encoding")):
            data = await run_in_threadpool(gzip.compress, data, 6, mtime=0)  # mtime 0: the same bytes each time
            headers["content-encoding"] = "gzip"
        return Response(data, media_type="application/octet-stream", headers=headers)

    def _authorize_auditor(self, authorization: str | None) -> None:
        services = self.services
        caller = authenticate(authorization, b"", registry=services.registry, replay=services.replay,
                              settings=services.settings, now=int(services.clock().timestamp()))
        if caller.principal.role is not Role.AUDITOR:
            raise ForbiddenRole("entry bundles are for auditors; your principal's role is "
                                f"{caller.principal.role.value}")

    def _read(self, tile: TileRef) -> bytes | None:
        with self.services.db.engine.connect() as connection:
            if tile.level is None:
                return entry_bundle(connection, tile)
            return hash_tile(connection, tile)


def _refusal(error: GatewayError) -> Response:
    return JSONResponse(error_body(error), status_code=error.status)
