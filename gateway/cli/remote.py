"""What the client commands (`request`, `review`, `query`, `open`) share: their common options,
key files by prefix, the connection, and the one place where a client error becomes a message and
an exit code: 2 for a refusal ("refused: CODE: message") or an unreachable gateway, 1 for a
response whose values do not verify."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crypto.errors import CryptoError
from crypto.keys import decode_signing_public_key, read_sealing_key, read_signing_key
from gateway.cli.common import err_console, fail, handle_errors
from gateway.client import DEFAULT_URL, ClientError, GatewayClient, GatewayRefused, is_loopback_url
from gateway.errors import OperatorError
from gateway.unseal import DISCLOSABLE_FIELDS, UnsealError

__all__ = [
    "DEFAULT_URL",
    "IdOption",
    "KeyOption",
    "UrlOption",
    "client_command",
    "connect",
    "fields_option",
    "gateway_key_option",
    "key_table",
    "print_refusal",
    "sealing_key_for",
    "signing_key_for",
    "split_list",
    "warn_if_interceptable",
]

P = ParamSpec("P")
R = TypeVar("R")

UrlOption = Annotated[str, typer.Option("--url", envvar="GATEWAY_URL", help="the gateway's base URL")]
IdOption = Annotated[str, typer.Option("--id", help="your principal id, as registered at the gateway",
                                       show_default=False)]
KeyOption = Annotated[Path, typer.Option("--key", metavar="PREFIX", show_default=False,
                                         help="your key files from `gateway keygen`: PREFIX.sign.key "
                                              "(and PREFIX.seal.key to open disclosures)")]


def print_refusal(exc: GatewayRefused) -> None:
    """``refused: CODE: message`` on stderr, and the audit entry it was logged under."""
    err_console.print(f"[bold red]refused:[/] {escape(exc.code)}: {escape(exc.message)}", markup=True)
    if exc.audit is not None:
        err_console.print(f"  (HTTP {exc.status}; logged as audit entry {exc.audit.index}, "
                          f"request {escape(exc.audit.request_id)})", markup=True, style="dim")


def _exit_for(exc: ClientError | UnsealError) -> NoReturn:
    if isinstance(exc, GatewayRefused):
        print_refusal(exc)
        raise typer.Exit(2)
    if isinstance(exc, UnsealError):
        fail(escape(exc.message), code=1)
    fail(escape(exc.message))


def client_command(func: Callable[P, R]) -> Callable[P, R]:
    """:func:`~gateway.cli.common.handle_errors`, plus the client's own errors and exit codes."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (ClientError, UnsealError) as exc:
            _exit_for(exc)

    return handle_errors(wrapper)


def _key_path(prefix: Path, suffix: str) -> Path:
    return Path(f"{prefix}.{suffix}.key")


def signing_key_for(prefix: Path) -> SigningKey:
    """PREFIX.sign.key; :class:`OperatorError` saying what to do when it is missing."""
    path = _key_path(prefix, "sign")
    if not path.exists():
        raise OperatorError(f"{path} does not exist; --key takes the PREFIX given to `gateway keygen --out PREFIX`")
    return read_signing_key(path)


def sealing_key_for(prefix: Path) -> PrivateKey:
    """PREFIX.seal.key; :class:`OperatorError` saying what to do when it is missing."""
    path = _key_path(prefix, "seal")
    if not path.exists():
        raise OperatorError(f"{path} does not exist; opening disclosures needs the sealing key written by "
                            "`gateway keygen --out PREFIX`")
    return read_sealing_key(path)


def gateway_key_option(value: str | None) -> VerifyKey | None:
    """Decode ``--gateway-key B64`` (the gateway's signing key, to pin it)."""
    if value is None:
        return None
    try:
        return decode_signing_public_key(value)
    except CryptoError as exc:
        raise OperatorError(f"--gateway-key: {exc.message}; pass the gateway_signing_key from "
                            "/.well-known/disclosure-gateway") from exc


def warn_if_interceptable(url: str, pinned: bool) -> None:
    """Plain HTTP beyond this host lets anyone on the path swap the gateway key that discovery
    returns, and then forge disclosure records that verify: say so unless the key is pinned."""
    if url.startswith("http://") and not is_loopback_url(url) and not pinned:
        err_console.print(f"[yellow]warning:[/] {escape(url)} is plain HTTP beyond this host: the gateway key "
                          "learnt from it proves nothing; pin it with --gateway-key", markup=True)


def connect(url: str, principal_id: str, key_prefix: Path, *, gateway_key: VerifyKey | None = None) -> GatewayClient:
    """A client for ``url`` signing as ``principal_id`` with PREFIX.sign.key."""
    warn_if_interceptable(url, gateway_key is not None)
    return GatewayClient(url, principal_id, signing_key_for(key_prefix), gateway_key=gateway_key)


def split_list(values: list[str] | None) -> list[str]:
    """Comma-separated and repeated options as one list, without blanks or repeats."""
    found: list[str] = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip()
            if part and part not in found:
                found.append(part)
    return found


def fields_option(values: list[str] | None, *, option: str = "--fields") -> list[str]:
    """The disclosable fields named by ``--fields a,b`` (docs/PROTOCOL.md §5), checked here so that a
    typo gets a list of the valid names instead of a round trip."""
    fields = split_list(values)
    unknown = [f for f in fields if f not in DISCLOSABLE_FIELDS]
    if unknown:
        raise OperatorError(f"{option}: unknown field {unknown[0]!r}; choose from {', '.join(DISCLOSABLE_FIELDS)}")
    return fields


def key_table(rows: list[tuple[str, str]], *, title: str | None = None) -> Table:
    """A two-column table of labels and values; values are plain text, never markup."""
    table = Table(show_header=False, title=title, title_justify="left", box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(label, Text(value))
    return table
