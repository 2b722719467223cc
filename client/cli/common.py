"""What the client commands (`keygen`, `request`, `review`, `query`, `open`) share: the console,
the connection, key files by prefix, ``--version``, and the one place where an error becomes a
message and an exit code (:data:`EXIT_CODES`): 1 for a response whose values do not verify, 2 for
a bad option or file ("error: message"; nothing was sent), 3 for a refusal ("refused: CODE:
message"), 4 for a gateway that could not be reached or did not answer as a gateway. The shared
options are in :mod:`client.cli.options`."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from client.errors import (
    ClientError,
    GatewayRefused,
    GatewayResponseError,
    GatewayUnreachable,
    UnsealError,
    UsageError,
)

# The connection, the keys and crypto are imported by the commands that use them: every command's
# help imports this module, and must start in under 0.3 s of CPU (client/cli/group.py).
if TYPE_CHECKING:
    from nacl.signing import VerifyKey

    from client.http import GatewayClient

__all__ = [
    "CHECK_FAILED",
    "EXIT_CODES",
    "REFUSED",
    "UNREACHABLE",
    "USAGE",
    "add_version_option",
    "client_command",
    "connect",
    "console",
    "err_console",
    "fail",
    "is_interactive",
    "key_table",
    "print_json",
    "print_refusal",
    "warn_if_interceptable",
]

P = ParamSpec("P")
R = TypeVar("R")

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

CHECK_FAILED: Final = 1
USAGE: Final = 2
REFUSED: Final = 3
UNREACHABLE: Final = 4

EXIT_CODES: Final = (
    "Exit status: 0 done; 1 a check failed (audit verify, audit check-proof, transparency verify, "
    "audit monitor's ALARM, a disclosed value that does not open); 2 bad usage or local input, and "
    "nothing was sent; 3 refused by the gateway, with its code printed; 4 the gateway or the "
    "database could not be reached."
)
"""The epilog of `gateway --help` and `python -m client --help` (docs/PROTOCOL.md §9)."""


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        found = package_version("disclosure-gateway")
    except PackageNotFoundError:  # run from a source tree that was never installed
        found = "unknown (not installed)"
    console.print(f"disclosure-gateway {found}", markup=False)
    raise typer.Exit(0)


def add_version_option(app: typer.Typer) -> None:
    """``--version`` on ``app``: the installed version of disclosure-gateway, then exit 0."""

    @app.callback()
    def _main(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                           help="print the version of disclosure-gateway and exit")) -> None:
        pass


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
        raise typer.Exit(REFUSED)
    if isinstance(exc, UnsealError):
        fail(exc.message, code=CHECK_FAILED)
    if isinstance(exc, GatewayUnreachable | GatewayResponseError):
        fail(exc.message, code=UNREACHABLE)
    fail(exc.message)


def client_command(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command; turn every error of the client and of ``crypto`` into a message and an exit
    code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from crypto.errors import CryptoError

        try:
            return func(*args, **kwargs)
        except (ClientError, UnsealError) as exc:
            _exit_for(exc)
        except (UsageError, CryptoError) as exc:
            fail(exc.message)

    return wrapper


def warn_if_interceptable(url: str, pinned: bool) -> None:
    """Plain HTTP beyond this host lets anyone on the path swap the gateway key that discovery
    returns, and then forge disclosure records that verify: say so unless the key is pinned."""
    from client.http import is_loopback_url

    if url.startswith("http://") and not is_loopback_url(url) and not pinned:
        err_console.print(f"[yellow]warning:[/] {escape(url)} is plain HTTP beyond this host: the gateway key "
                          "learnt from it proves nothing; pin it with --gateway-key", markup=True)


def connect(url: str, principal_id: str, key_prefix: Path, *, gateway_key: VerifyKey | None = None,
            cacert: Path | None = None) -> GatewayClient:
    """A client for ``url`` signing as ``principal_id`` with PREFIX.sign.key, trusting ``cacert``
    (``--cacert``) for HTTPS when given."""
    from client.http import GatewayClient
    from client.keyfiles import signing_key_for

    warn_if_interceptable(url, gateway_key is not None)
    return GatewayClient(url, principal_id, signing_key_for(key_prefix), gateway_key=gateway_key, ca_file=cacert)


def key_table(rows: list[tuple[str, str]], *, title: str | None = None) -> Table:
    """A two-column table of labels and values; values are plain text, never markup."""
    table = Table(show_header=False, title=title, title_justify="left", box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in rows:
        table.add_row(label, Text(value))
    return table
