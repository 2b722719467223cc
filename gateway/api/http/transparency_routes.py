"""``GET /transparency`` and ``GET /transparency/{period}.json|.csv|.html`` (docs/PROTOCOL.md §10.6).

Public: no token, and not audit-logged (like ``GET /audit/checkpoint``): the reports hold nothing
that is not published anyway. ``?version=N`` serves an older version; the default is the latest.
Files are served exactly as stored, with a Content-Security-Policy that lets the page load nothing.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.errors import BadRequest
from gateway.services import Services
from gateway.transparency.period import parse_period
from gateway.transparency.render import HTML_CSP
from gateway.transparency.store import find_report, list_reports

__all__ = ["transparency_routes"]

_MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8"}
_FILE = re.compile(r"(?P<period>[0-9A-Za-z.-]{1,32})\.(?P<ext>json|csv|html)")
_VERSION = re.compile(r"[1-9][0-9]{0,8}")
_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "public, max-age=300"}


def _not_found(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=404)


def transparency_routes(services: Services) -> list[Route]:
    def listing() -> list[dict[str, Any]]:
        with services.db.engine.connect() as connection:
            reports = list_reports(connection)
        latest: set[str] = set()
        out = []
        for report in reports:  # newest version of each period first
            files = {ext: f"/transparency/{report.period}.{ext}?version={report.version}" for ext in _MEDIA}
            out.append({"period": report.period, "version": report.version, "supersedes": report.supersedes,
                        "tree_size": report.tree_size, "latest": report.period not in latest, "files": files})
            latest.add(report.period)
        return out

    async def index(_: Request) -> Response:
        return JSONResponse({"reports": await run_in_threadpool(listing)}, headers=_HEADERS)

    async def one(request: Request) -> Response:
        match = _FILE.fullmatch(request.path_params["name"])
        if match is None:
            return _not_found("no such report file; see GET /transparency")
        try:
            name = parse_period(match.group("period")).name
        except BadRequest as exc:
            return _not_found(exc.message)
        raw_version = request.query_params.get("version")
        if raw_version is not None and not _VERSION.fullmatch(raw_version):
            return _not_found("version must be a positive whole number")
        version = int(raw_version) if raw_version is not None else None

        def load() -> str | None:
            with services.db.engine.connect() as connection:
                stored = find_report(connection, name, version)
            if stored is None:
                return None
            return {"json": stored.json, "csv": stored.csv, "html": stored.html}[match.group("ext")]

        text = await run_in_threadpool(load)
        if text is None:
            return _not_found("no report for that period and version; see GET /transparency")
        ext = match.group("ext")
        headers = dict(_HEADERS)
        if ext == "html":
            headers["content-security-policy"] = HTML_CSP
        return Response(text, media_type=_MEDIA[ext], headers=headers)

    return [Route("/transparency", index, methods=["GET"]), Route("/transparency/{name}", one, methods=["GET"])]
