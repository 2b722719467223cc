"""What every command shares: settings, the database, the console and the one place that turns
errors into messages and exit codes."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from crypto.errors import CryptoError
from gateway.config import Settings, SettingsError, load_settings
from gateway.errors import GatewayError, OperatorError
from gateway.store.engine import Database
from gateway.store.migrate import current_revision, head_revision

__all__ = ["console", "err_console", "fail", "handle_errors", "open_database", "print_json", "settings"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``."""
    # Markup for the prefix only: messages may hold brackets (paths, `ip_events[0]`).
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    raise typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the gateway's and crypto's errors into a message and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (GatewayError, CryptoError) as exc:
            fail(exc.message)
        except ValidationError as exc:
            fail(f"invalid configuration: {exc.errors()[0].get('msg', exc)}")

    return wrapper


def print_json(value: object) -> None:
    """``value`` as indented JSON on stdout (the ``--json`` output of the client commands)."""
    console.print_json(json.dumps(value))


def settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        fail(f"invalid configuration GATEWAY_{where.upper()}: {first.get('msg')}" if where else
             f"invalid configuration: {str(first.get('msg')).removeprefix('Value error, ')}")
    except SettingsError as exc:
        fail(f"invalid configuration: {exc}")


def open_database(config: Settings) -> Database:
    """The database, refusing to go on when `gateway init` has not been run or the schema is old."""
    if config.database_url is None and not (config.data_dir / "gateway.db").exists():
        raise OperatorError(
            f"no database in {config.data_dir.resolve()}; set GATEWAY_DATA_DIR to the gateway's data directory "
            "(or GATEWAY_DATABASE_URL to its database), or run `gateway init` there to create a new, empty gateway")
    db = Database(config.sqlalchemy_url)
    try:
        revision = current_revision(db)
    except Exception as exc:  # any driver error: unreachable, bad URL, bad credentials
        db.dispose()
        raise OperatorError(f"cannot reach the database: {type(exc).__name__}; check GATEWAY_DATABASE_URL") from exc
    if revision != head_revision():
        db.dispose()
        raise OperatorError("the database schema is not up to date; run `gateway init`")
    return db


def is_interactive() -> bool:
    return sys.stdin.isatty()
