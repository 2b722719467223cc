"""What every command shares: settings, the database, the console and the one place that turns
errors into messages and exit codes.

Light on purpose: every `gateway … --help` imports this module, so the configuration (pydantic),
the database (SQLAlchemy, alembic) and the server are imported inside the functions that need
them, and a help costs none of them (bench/bench_cli_start.py)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

# One console and one way to fail for both programs: the operator's commands print as the
# principals' commands do.
from client.cli.common import UNREACHABLE, console, err_console, fail, is_interactive, print_json
from client.errors import UsageError
from crypto.errors import CryptoError
from gateway.errors import DatabaseUnreachable, GatewayError, OperatorError

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.services import Services
    from gateway.store.engine import Database

__all__ = ["console", "err_console", "fail", "handle_errors", "is_interactive", "open_database", "print_json",
           "running_services", "settings"]

P = ParamSpec("P")
R = TypeVar("R")


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the gateway's, crypto's and the client's usage errors into a message and exit code 2, a
    database that cannot be reached into exit code 4 (the codes of ``EXIT_CODES``), never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except DatabaseUnreachable as exc:
            fail(exc.message, code=UNREACHABLE)
        except (GatewayError, CryptoError, UsageError) as exc:
            fail(exc.message)
        except Exception as exc:
            if _is_validation_error(exc):
                from gateway.config import configuration_error

                fail(configuration_error(exc))  # type: ignore[arg-type]
            raise

    return wrapper


def _is_validation_error(exc: Exception) -> bool:
    """Whether ``exc`` is pydantic's ValidationError (no pydantic loaded: it cannot be)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(exc, pydantic.ValidationError)


def settings() -> Settings:
    from pydantic import ValidationError

    from gateway.config import SettingsError, configuration_error, load_settings, undecodable_dotenv

    try:
        return load_settings()
    except ValidationError as exc:
        fail(configuration_error(exc))
    except SettingsError as exc:
        fail(f"invalid configuration: {exc}")
    except UnicodeDecodeError:
        # python-dotenv reading a .env that is not UTF-8; its message would show the bytes around.
        fail(f"invalid configuration: {undecodable_dotenv()}")


def open_database(config: Settings) -> Database:
    """The database, refusing to go on when `gateway init` has not been run or the schema is old."""
    from gateway.maintenance.initialize import sqlite_path
    from gateway.store.engine import Database, connection_failure
    from gateway.store.migrate import current_revision, head_revision

    if config.database_url is None and not (config.data_dir / "gateway.db").exists():
        raise OperatorError(
            f"no database in {config.data_dir.resolve()}; set GATEWAY_DATA_DIR to the gateway's data directory "
            "(or GATEWAY_DATABASE_URL to its database), or run `gateway init` there to create a new, empty gateway")
    # Only our own words are shown: drivers' messages quote the URL's host and user, and a
    # password with an unescaped @ lands in the host.
    password = "GATEWAY_DATABASE_PASSWORD" if config.database_password else None
    check = "GATEWAY_DATABASE_URL" + (f" and {password}" if password else "")
    try:
        db = Database(config.sqlalchemy_url)
        path = sqlite_path(config)
    except Exception as exc:  # a URL the engine refuses
        raise OperatorError(f"cannot use the database: {type(exc).__name__}; check {check}") from None
    if path is not None and not path.exists():
        db.dispose()
        # Connecting would create an empty file there, and then report it as uninitialised.
        raise OperatorError(
            f"no database at {path.resolve()}, where GATEWAY_DATABASE_URL points; check GATEWAY_DATABASE_URL "
            "(a typo in the path?). Nothing was created there; `gateway init` creates a new, empty gateway")
    try:
        revision = current_revision(db)
    except Exception as exc:  # any driver error: unreachable, bad URL, bad credentials
        db.dispose()
        # `from None`: the driver's message may quote the URL, password and all.
        reason = connection_failure(exc, url_setting="GATEWAY_DATABASE_URL", password_setting=password)
        raise DatabaseUnreachable(f"cannot reach the database: {reason}") from None
    if revision != head_revision():
        db.dispose()
        raise OperatorError("the database schema is not up to date; run `gateway init`")
    return db


@contextmanager
def running_services() -> Iterator[Services]:
    """The gateway's services for one operator command that appends to the audit log, closed after
    it; refuses a missing or outdated schema with its message first."""
    from gateway.services import Services

    config = settings()
    open_database(config).dispose()
    services = Services.build(config)
    try:
        yield services
    finally:
        services.close()
