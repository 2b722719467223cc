"""The review console: static files the gateway serves at ``/console/`` (docs/PROTOCOL.md §12).

The console is plain HTML, CSS and JavaScript modules in ``static/``, run in the reviewer's
browser. It holds the reviewer's Ed25519 key as a non-extractable WebCrypto key and sends the
same signed, body-bound GraphQL requests as ``gateway review``; the gateway gives it no other
power. This package only serves the files, with a strict Content-Security-Policy. It imports
nothing of the gateway's domains.
"""

from gateway.console.files import CONTENT_SECURITY_POLICY, SECURITY_HEADERS, ConsoleFiles

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "ConsoleFiles"]
