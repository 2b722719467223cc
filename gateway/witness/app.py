"""The witness's HTTP interface (c2sp.org/tlog-witness): ``POST /add-checkpoint`` and, on the
monitoring prefix, ``GET /<origin hash>/checkpoint``."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.witness.service import Witness

__all__ = ["create_witness_app"]

_MAX_BODY = 64 * 1024  # 63 proof lines and a checkpoint with many signatures fit easily


def create_witness_app(witness: Witness, *, clock: Callable[[], float] = time.time) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > _MAX_BODY:
                    return PlainTextResponse("the body is too large\n", status_code=413)
                chunks.append(chunk)
        except ClientDisconnect:
            return PlainTextResponse("the client closed the connection\n", status_code=400)
        answer = witness.add_checkpoint(b"".join(chunks), int(clock()))
        # The header, not media_type: Starlette appends "; charset=utf-8" to every text/* media type,
        # and tlog-witness fixes the 409's Content-Type as exactly `text/x.tlog.size`.
        return Response(answer.body.encode("utf-8"), status_code=answer.status,
                        headers={"content-type": answer.content_type})

    async def checkpoint(request: Request) -> Response:
        note = witness.latest_note(request.path_params["origin"])
        if note is None:
            return PlainTextResponse("this witness has cosigned no checkpoint of that log\n", status_code=404)
        return PlainTextResponse(note, headers={"cache-control": "no-store"})

    return Starlette(routes=[
        Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route("/{origin:str}/checkpoint", checkpoint, methods=["GET"]),
    ])
