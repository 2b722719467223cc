"""Serve the console's files from memory, with the security headers every one of them carries.

Only the files found in ``static/`` at start-up, with a known type, are served: a name that is
not in that table is a 404, so there is no path to traverse and nothing else on disk to reach.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "ConsoleFiles"]

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"

# Everything from this origin only; no inline script or style, no eval, no plugins, no framing.
# Trusted Types with no policy allowed means no string can reach an HTML or script sink at all,
# so a value from the gateway can only ever become text.
CONTENT_SECURITY_POLICY: Final = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
))

SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    # Revalidate every time: a reviewer must never run yesterday's console against today's gateway.
    "cache-control": "no-cache",
}

# Set here rather than guessed from the platform's MIME registry, which may call .js text/plain;
# a module script served so is refused under nosniff.
_TYPES: Final[Mapping[str, str]] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class _File:
    content: bytes
    media_type: str
    etag: str


def _load(directory: Path) -> dict[str, _File]:
    files: dict[str, _File] = {}
    for path in sorted(directory.iterdir()):
        media_type = _TYPES.get(path.suffix)
        if media_type is None or not path.is_file():
            continue
        content = path.read_bytes()
        files[path.name] = _File(content, media_type, '"' + hashlib.sha256(content).hexdigest()[:32] + '"')
    return files


class ConsoleFiles:
    """The ``/console/{name}`` endpoint: GET or HEAD of one of the console's files."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.files = _load(directory)
        if "index.html" not in self.files:
            raise RuntimeError(f"the console's index.html is missing from {directory}; reinstall the package")

    async def redirect(self, _: Request) -> Response:
        # Relative URLs in index.html resolve against /console/, so the slash matters.
        return RedirectResponse("/console/", status_code=308, headers=dict(SECURITY_HEADERS))

    async def serve(self, request: Request) -> Response:
        name = request.path_params.get("name") or "index.html"
        found = self.files.get(name)
        if found is None:
            return Response("not found\n", status_code=404, media_type="text/plain; charset=utf-8",
                            headers=dict(SECURITY_HEADERS))
        headers = dict(SECURITY_HEADERS) | {"etag": found.etag}
        if request.headers.get("if-none-match") == found.etag:
            return Response(status_code=304, headers=headers)
        body = b"" if request.method == "HEAD" else found.content
        response = Response(body, media_type=found.media_type, headers=headers)
        if request.method == "HEAD":
            response.headers["content-length"] = str(len(found.content))
        return response
