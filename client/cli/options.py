"""The options the client commands share (``--url``, ``--id``, ``--key``) and the parsing of
option values that are checked before anything is signed or sent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from nacl.signing import VerifyKey

from client.cli.words import plural
from client.errors import UsageError
from client.http import DEFAULT_URL
from client.values import check_phone, check_time
from client.wire import DISCLOSABLE_FIELDS
from crypto.errors import CryptoError
from crypto.keys import decode_signing_public_key

__all__ = ["DEFAULT_URL", "CaCertOption", "IdOption", "KeyOption", "UrlOption", "fields_option", "gateway_key_option",
           "phones_option", "split_list", "time_option"]

UrlOption = Annotated[str, typer.Option("--url", envvar="GATEWAY_URL", help="the gateway's base URL")]
CaCertOption = Annotated[Path | None, typer.Option(
    "--cacert", envvar="GATEWAY_CA_FILE", metavar="FILE", show_default=False,
    help="trust only this PEM certificate (or CA) for the gateway's HTTPS, e.g. a self-signed one")]
IdOption = Annotated[str, typer.Option("--id", help="your principal id, as registered at the gateway",
                                       show_default=False)]
KeyOption = Annotated[Path, typer.Option("--key", metavar="PREFIX", show_default=False,
                                         help="your key files from `gateway keygen`: PREFIX.sign.key "
                                              "(and PREFIX.seal.key to open disclosures)")]


def gateway_key_option(value: str | None) -> VerifyKey | None:
    """Decode ``--gateway-key B64`` (the gateway's signing key, to pin it)."""
    if value is None:
        return None
    try:
        return decode_signing_public_key(value)
    except CryptoError as exc:
        raise UsageError(f"--gateway-key: {exc.message}; pass the gateway_signing_key from "
                         "/.well-known/disclosure-gateway") from exc


def split_list(values: list[str] | None) -> list[str]:
    """Comma-separated and repeated options as one list, without blanks or repeats."""
    found: list[str] = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if part and part not in found:
                found.append(part)
    return found


def fields_option(values: list[str] | None, *, option: str = "--fields", required: bool = False) -> list[str]:
    """The disclosable fields named by ``--fields a,b`` (docs/PROTOCOL.md §5), checked here so that a
    typo gets the gateway's answer, and the typo named, without a round trip (``required``: at least
    one, as a request and a query need)."""
    fields = split_list(values)
    if required and not fields:
        raise UsageError(f"{option}: name at least one field: {', '.join(DISCLOSABLE_FIELDS)}")
    unknown = [f for f in fields if f not in DISCLOSABLE_FIELDS]
    if unknown:
        named = ", ".join(repr(f) for f in unknown)  # the person's own typo; it never leaves this machine
        raise UsageError(f"{option}: {plural(len(unknown), 'unknown field name')} ({named}); "
                         f"fields are {', '.join(DISCLOSABLE_FIELDS)}")
    return fields


def time_option(value: str, option: str) -> str:
    """``value`` if the gateway will read it as an RFC 3339 time; :class:`UsageError` in the
    gateway's words otherwise, before anything is sent."""
    try:
        return check_time(value, option)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def phones_option(values: list[str] | None, option: str = "--phone") -> list[str]:
    """The phone numbers given, each one the gateway can read as E.164; :class:`UsageError` in the
    gateway's words for the first that is not (the number itself is not repeated)."""
    try:
        return [check_phone(value, option) for value in values or []]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
