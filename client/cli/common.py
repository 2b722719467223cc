"""What the client commands (`keygen`, `request`, `review`, `query`, `open`) share: the console,
their common options, the connection, and the one place where an error becomes a message and an
exit code: 2 for a refusal ("refused: CODE: message"), an unreachable gateway or a bad option or
file ("error: message"), 1 for a response whose values do not verify."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from nacl.signing import VerifyKey
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from client.errors import ClientError, GatewayRefused, UnsealError, UsageError
from client.http import DEFAULT_URL, GatewayClient, is_loopback_url
from client.keyfiles import sealing_key_for, signing_key_for
from client.wire import DISCLOSABLE_FIELDS
from crypto.errors import CryptoError
from crypto.keys import decode_signing_public_key

__all__ = [
    "DEFAULT_URL",
    "IdOption",
    "KeyOption",
    "UrlOption",
    "client_command",
    "connect",
    "console",
    "err_console",
    "fail",
    "fields_option",
    "gateway_key_option",
    "is_interactive",
    "key_table",
    "print_json",
    "print_refusal",
    "sealing_key_for",
    "signing_key_for",
    "split_list",
    "warn_if_interceptable",
]

P = ParamSpec("P")
R = TypeVar("R")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

UrlOption = Annotated[str, typer.Option("--url", envvar="GATEWAY_URL", help="the gateway's base URL")]
IdOption = Annotated[str, typer.Option("--id", help="your principal id, as registered at the gateway",
                                       show_default=False)]
KeyOption = Annotated[Path, typer.Option("--key", metavar="PREFIX", show_default=False,
                                         help="your key files from `gateway keygen`: PREFIX.sign.key "
                                              "(and PREFIX.seal.key to open disclosures)")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``."""
    # Markup for the prefix only: messages may hold brackets (paths, `ip_events[0]`).
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    raise typer.Exit(code)


def print_json(value: object) -> None:
    """``value`` as indented JSON on stdout (the ``--json`` output of the client commands)."""
    console.print_json(json.dumps(value))


def is_interactive() -> bool:
    return sys.stdin.isatty()


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
    """Run a command; turn every error of the client and of ``crypto`` into a message and an exit
    code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (ClientError, UnsealError) as exc:
            _exit_for(exc)
        except (UsageError, CryptoError) as exc:
            fail(exc.message)

    return wrapper


def gateway_key_option(value: str | None) -> VerifyKey | None:
    """Decode ``--gateway-key B64`` (the gateway's signing key, to pin it)."""
    if value is None:
        return None
    try:
        return decode_signing_public_key(value)
    except CryptoError as exc:
        raise UsageError(f"--gateway-key: {exc.message}; pass the gateway_signing_key from "
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
        raise UsageError(f"{option}: unknown field {unknown[0]!r}; choose from {', '.join(DISCLOSABLE_FIELDS)}")
    return fields


def key_table(rows: list[tuple[str, str]], *, title: str | None = None) -> Table:
    """A two-column table of labels and values; values are plain text, never markup."""
    table = Table(show_header=False, title=title, title_justify="left", box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(label, Text(value))
    return table
