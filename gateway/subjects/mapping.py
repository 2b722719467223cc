"""The sql source's mapping file: one parameterised SELECT per purpose (docs/PROTOCOL.md §9.2).

    # GATEWAY_SUBJECT_SOURCE_MAPPING, TOML
    [statements]
    resolve_by_phone    = "SELECT id AS subject_id FROM accounts WHERE phone = :phone"
    resolve_by_username = "SELECT id AS subject_id FROM accounts WHERE lower(username) = :username"
    exists              = "SELECT id AS subject_id FROM accounts WHERE id = :subject_id"
    phone               = "SELECT phone FROM accounts WHERE id = :subject_id"
    ip_events           = "SELECT ip, port, first_seen, last_seen FROM ip_sessions WHERE ..."
    devices             = "SELECT model, platform, app, app_version, first_seen, last_seen FROM devices WHERE ..."
    username_history    = "SELECT username, valid_from, valid_until FROM username_changes WHERE ..."

Each purpose fixes the parameters a statement may bind (the gateway binds only these, never SQL
built from values) and the columns it must return, no more and no fewer. What can be decided from
the text alone is decided here: every purpose present and no other, one statement each, a SELECT
(or WITH … SELECT) with no writing keyword, the parameters its purpose requires and no others. The
source then executes each one (:meth:`~gateway.subjects.sql_source.SqlSource.check`) to check the
columns and that the database runs it read-only.

Every refusal is :class:`~gateway.errors.OperatorError` with one line naming the statement and
what is wrong.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import TextClause, text

from gateway.errors import OperatorError

__all__ = ["PURPOSES", "Mapping", "Purpose", "load_mapping", "parse_mapping"]


@dataclass(frozen=True, slots=True)
class Purpose:
    name: str
    required: frozenset[str]  # parameters the statement must bind
    optional: frozenset[str]  # parameters it may bind
    columns: tuple[str, ...]  # exactly the columns it returns


_WINDOW: Final = frozenset({"window_from", "window_until"})
PURPOSES: Final = {p.name: p for p in (
    Purpose("resolve_by_phone", frozenset({"phone"}), frozenset(), ("subject_id",)),
    Purpose("resolve_by_username", frozenset({"username"}), frozenset(), ("subject_id",)),
    Purpose("exists", frozenset({"subject_id"}), frozenset(), ("subject_id",)),
    Purpose("phone", frozenset({"subject_id"}), frozenset(), ("phone",)),
    Purpose("ip_events", frozenset({"subject_id"}), _WINDOW, ("ip", "port", "first_seen", "last_seen")),
    Purpose("devices", frozenset({"subject_id"}), _WINDOW,
            ("model", "platform", "app", "app_version", "first_seen", "last_seen")),
    Purpose("username_history", frozenset({"subject_id"}), _WINDOW, ("username", "valid_from", "valid_until")),
)}
"""Every purpose of the mapping, by name."""

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`")
# Keywords that write, lock or change the session: none has a place in a read.
_WRITING = re.compile(r"\b(insert|update|delete|merge|truncate|drop|alter|create|grant|revoke|"
                      r"call|copy|lock|set|do|load|handler|rename|into|outfile|dumpfile)\b", re.IGNORECASE)
_MAX_STATEMENT_CHARS: Final = 16 * 1024


@dataclass(frozen=True)
class Mapping:
    statements: dict[str, TextClause]  # purpose name -> its statement
    sql: dict[str, str]  # purpose name -> its text, as written


def load_mapping(path: Path) -> Mapping:
    """Read and check the mapping file at ``path``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OperatorError(f"subject source mapping {path}: cannot read it: {exc.strerror or exc}") from None
    return parse_mapping(raw, where=str(path))


def parse_mapping(raw: bytes, *, where: str = "mapping") -> Mapping:
    error: str | None = None
    document: dict[str, object] = {}
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        error = "is not UTF-8 text"
    except tomllib.TOMLDecodeError as exc:
        error = f"is not TOML: {exc}"
    if error is not None:
        raise OperatorError(f"subject source mapping {where}: {error}")
    unknown_tables = sorted(set(document) - {"statements"})
    if unknown_tables:
        raise OperatorError(f"subject source mapping {where}: unknown table or key '{unknown_tables[0]}' "
                            "(only [statements] is read)")
    statements = document.get("statements")
    if not isinstance(statements, dict):
        raise OperatorError(f"subject source mapping {where}: no [statements] table")
    for name in statements:
        if name not in PURPOSES:
            raise OperatorError(f"subject source mapping {where}: statement '{name}' is no purpose "
                                f"(the purposes: {', '.join(PURPOSES)})")
    clauses: dict[str, TextClause] = {}
    texts: dict[str, str] = {}
    for name, purpose in PURPOSES.items():
        sql = statements.get(name)
        if sql is None:
            raise OperatorError(f"subject source mapping {where}: statement '{name}' is missing")
        if not isinstance(sql, str):
            raise OperatorError(f"subject source mapping {where}: statement '{name}' is not a string")
        problem = _problem(sql, purpose)
        if problem is not None:
            raise OperatorError(f"subject source mapping {where}: statement '{name}' {problem}")
        texts[name] = sql
        clauses[name] = text(sql.strip().removesuffix(";"))
    return Mapping(statements=clauses, sql=texts)


def _problem(sql: str, purpose: Purpose) -> str | None:
    """What is wrong with ``sql`` for ``purpose`` that its text shows, or None."""
    if len(sql) > _MAX_STATEMENT_CHARS:
        return f"is longer than {_MAX_STATEMENT_CHARS} characters"
    bare = _QUOTED.sub("''", _COMMENTS.sub(" ", sql)).strip().removesuffix(";")
    if ";" in bare:
        return "holds more than one statement"
    first = bare.split(None, 1)[0].lower() if bare else ""
    if first not in ("select", "with", "("):
        return f"is not a SELECT (it begins with '{first or 'nothing'}'); only reads are allowed"
    writing = _WRITING.search(bare)
    if writing is not None:
        return f"uses '{writing.group(1).upper()}'; only reads are allowed"
    bound = set(text(sql.strip().removesuffix(";")).compile().params)
    missing = sorted(purpose.required - bound)
    if missing:
        return f"does not bind :{missing[0]}, which its purpose needs"
    extra = sorted(bound - purpose.required - purpose.optional)
    if extra:
        allowed = ", ".join(f":{p}" for p in sorted(purpose.required | purpose.optional))
        return f"binds :{extra[0]}, which the gateway does not supply (it supplies {allowed})"
    return None
