"""Whether a response may be gzip-coded for a client, from its ``Accept-Encoding`` (RFC 9110 §12.5.3).

tlog-tiles says entry bundles SHOULD be compressed at the HTTP layer, with gzip or a coding the
client asks for; the gateway codes them with gzip when the client takes it at least as gladly as the
uncompressed body, and otherwise sends them uncompressed (which every client takes).
"""

from __future__ import annotations

import re

__all__ = ["accepts_gzip"]

_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def _weight(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            value = value.strip()
            return float(value) if _QVALUE.fullmatch(value) else 0.0  # a malformed weight accepts nothing
    return 1.0


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True if ``accept_encoding`` gives gzip (named, as ``x-gzip`` or through ``*``) a weight above
    zero and no lower than the one it gives identity (named or through ``*``). No header, or an
    empty one, asks for the body as it is."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for element in accept_encoding.split(","):
        coding, *params = element.split(";")
        coding = coding.strip().lower()
        if coding:
            weights.setdefault("gzip" if coding == "x-gzip" else coding, _weight(params))
    star = weights.get("*")
    gzip = weights.get("gzip", 0.0 if star is None else star)
    # The body as it is is always acceptable, but weighs against gzip only where the client weighed it.
    identity = weights.get("identity", 0.0 if star is None else star)
    return gzip > 0.0 and gzip >= identity
