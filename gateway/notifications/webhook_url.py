"""Which webhook URLs the gateway accepts (docs/PROTOCOL.md §17.4): HTTPS, except a loopback address."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from gateway.errors import BadRequest

__all__ = ["MAX_URL_LENGTH", "check_webhook_url"]

MAX_URL_LENGTH = 2048
_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: str) -> str:
    """``url`` if the gateway may POST events to it; ``BAD_REQUEST`` otherwise. The message never
    repeats the URL: it names what is wrong and what is accepted.

    Accepted: ``https://host[:port][/path][?query]``, or ``http://`` to a loopback host only (a
    receiver on the gateway's own machine, as in tests). No user or password in the URL (the
    receiver authenticates the gateway by the signature), no fragment, at most 2048 characters."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or not url.isprintable() or " " in url:
        raise BadRequest(f"the webhook URL must be one printable line of at most {MAX_URL_LENGTH} characters, "
                         "without spaces")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise BadRequest("the webhook URL does not parse; send https://host[:port]/path") from None
    if not host:
        raise BadRequest("the webhook URL names no host; send https://host[:port]/path")
    if parts.username is not None or parts.password is not None:
        raise BadRequest("the webhook URL must not carry a user or password; verify the webhook-signature "
                         "header instead")
    if parts.fragment:
        raise BadRequest("the webhook URL must not carry a #fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        del port  # parsed above only to refuse a port that is not a number
        return url
    raise BadRequest("the webhook URL must use https (plain http is accepted for a loopback address only)")
