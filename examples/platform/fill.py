"""Fill the example platform (schema.postgresql.sql or schema.mariadb.sql) with synthetic data.

    python examples/platform/fill.py --url URL --accounts N --sessions M [--seed S]
                                     [--schema examples/platform/schema.postgresql.sql]

``URL`` is a SQLAlchemy URL, the one the gateway's ``GATEWAY_SUBJECT_SOURCE_URL`` takes
(``postgresql+psycopg://…`` or ``mysql+pymysql://…``). With ``--schema`` the tables are created
first and the schema's indexes and foreign keys are built after the rows are in, as a bulk load
does; without it the tables must exist. PostgreSQL is streamed with ``COPY … FROM STDIN``, MariaDB
and MySQL take batched inserts. The same ``--seed`` gives the same rows.

Nothing here is about a real person: addresses come from the documentation ranges (RFC 5737,
RFC 3849), phone numbers are valid for their country per ``phonenumbers`` but made up, and times
fall between 2026-01-01 and 2026-11-20 UTC, as in ``gateway.subjects.synthetic``. Each account has
its current username (and one in ten a former one), one to three devices, and ``--sessions`` IP
sessions are spread over the accounts at random.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import phonenumbers
import sqlalchemy
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

FROM: Final = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL: Final = datetime(2026, 11, 20, tzinfo=UTC)
_BASE: Final = datetime(2019, 1, 1, tzinfo=UTC)  # before every account's creation: times are seconds after it
_FROM_S: Final = int((FROM - _BASE).total_seconds())
_UNTIL_S: Final = int((UNTIL - _BASE).total_seconds())
_SPAN_S: Final = _UNTIL_S - _FROM_S
_POOL: Final = 4096  # addresses, ports and durations drawn from (a power of two: a mask picks one)
_REGIONS: Final = ("DE", "FR", "GB", "NL", "BR", "IN", "JP", "ES", "IT", "PL", "SE", "NG", "AU")
_TAIL: Final = 10**7  # the last seven digits of a mobile number are the account's (every tail is valid there)
_IPV4: Final = ("192.0.2", "198.51.100", "203.0.113")
_ADJECTIVES: Final = ("quiet", "amber", "rapid", "lunar", "mossy", "brave", "stormy", "velvet", "cobalt",
                      "tidal", "silent", "golden", "crimson", "polar", "misty", "rustic", "neon", "solar")
_NOUNS: Final = ("otter", "falcon", "harbor", "comet", "willow", "lynx", "meadow", "quartz", "raven",
                 "cedar", "pixel", "glacier", "badger", "ember", "nomad", "heron", "canyon", "marble")
_DEVICES: Final = (
    ("Pixel 8", "Android 15", "Messenger for Android", "6.14.1"),
    ("Galaxy S24", "Android 14", "Messenger for Android", "6.12.3"),
    ("iPhone 15", "iOS 18.1", "Messenger for iOS", "6.14.0"),
    ("iPhone 13 mini", "iOS 17.6", "Messenger for iOS", "6.12.0"),
    ("ThinkPad X1 Carbon", "Linux x86_64", "Messenger Desktop", "3.5.0"),
    ("MacBook Air M3", "macOS 15.1", "Messenger Desktop", "3.5.0"),
    ("Firefox 132", "Windows 11", "Messenger Web", "2026.11"),
)
_BATCH: Final = 20_000
_DEFERRED: Final = ("CREATE INDEX", "CREATE UNIQUE INDEX", "ALTER TABLE")
_NULL: Final = "\\N"  # COPY's text format


Row = tuple[str | None, ...]


def account_id(i: int) -> str:
    """The id of account ``i`` (0-based): what a benchmark picks subjects by."""
    return f"acct-{i:08d}"


@dataclass(frozen=True)
class Platform:
    """The rows of one fill, generated on demand, deterministic for the seed."""

    accounts: int
    sessions: int
    seed: int

    def __post_init__(self) -> None:
        if self.accounts < 1 or self.sessions < 0:
            raise ValueError("--accounts must be at least 1 and --sessions not negative")
        if self.accounts > len(_REGIONS) * _TAIL:
            raise ValueError(f"at most {len(_REGIONS) * _TAIL} accounts have a phone number of their own")

    def _prefixes(self) -> list[str]:
        prefixes = []
        for region in _REGIONS:
            example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
            if example is None:  # pragma: no cover - phonenumbers has one for each of these
                raise ValueError(f"phonenumbers has no example mobile number for {region}")
            national = str(example.national_number)
            prefixes.append(f"+{example.country_code}{national[:len(national) - 7]}")
        return prefixes

    def account_rows(self, times: _Times) -> Iterator[tuple[Row, list[Row], list[Row]]]:
        """(account, its username changes, its devices) for every account, in id order."""
        rng = random.Random(self.seed)  # noqa: S311 - synthetic data, reproducible on purpose
        prefixes = self._prefixes()
        # An odd multiplier not divisible by 5 permutes the tails: unique numbers that do not count up.
        multiplier = rng.randrange(1, _TAIL // 10) * 10 + rng.choice((1, 3, 7, 9))
        offset = rng.randrange(_TAIL)
        for i in range(self.accounts):
            aid = account_id(i)
            region = i % len(prefixes)
            phone = f"{prefixes[region]}{((i // len(prefixes)) * multiplier + offset + region * 1_234_567) % _TAIL:07d}"
            adjective, noun = rng.choice(_ADJECTIVES), rng.choice(_NOUNS)
            username = (f"{adjective}_{noun}{i}" if rng.random() < 0.5
                        else f"{adjective.capitalize()}{noun.capitalize()}{i}")
            created = _FROM_S - rng.randrange(6 * 365 * 86_400)
            changes: list[Row] = []
            if rng.random() < 0.1:
                renamed = _FROM_S + rng.randrange(_SPAN_S)
                changes.append((aid, f"{rng.choice(_NOUNS)}_{rng.choice(_ADJECTIVES)}{i}", times(created),
                                times(renamed)))
                changes.append((aid, username, times(renamed), None))
            else:
                changes.append((aid, username, times(created), None))
            devices: list[Row] = []
            for model, platform, app, version in rng.sample(_DEVICES, rng.randint(1, 3)):
                first = _FROM_S + rng.randrange(_SPAN_S)
                last = min(first + int(rng.expovariate(1.0) * 40 * 86_400), _UNTIL_S)
                devices.append((aid, model, platform, app, version, times(first), times(last)))
            yield (aid, username, phone, times(created)), changes, devices

    def session_chunks(self, times: _Times, *, text: bool) -> Iterator[list[Any]]:
        """The IP sessions in chunks: COPY text lines (``text``) or (account, ip, port, first, last) rows.

        The hot loop of a fill (ten million rows): one draw of random bits a row, cut into the
        account, an address and a port from pools, the start and a duration from a table of the
        exponential's quantiles (sessions of hours, a few of days), and the times from tables."""
        rng = random.Random(self.seed + 1)  # noqa: S311 - synthetic data, reproducible on purpose
        ips = [f"{rng.choice(_IPV4)}.{rng.randrange(1, 255)}" if rng.random() < 0.6 else
               f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
               for _ in range(_POOL)]
        ports = [str(rng.randrange(1024, 65536)) if rng.random() < 0.7 else None for _ in range(_POOL)]
        durations = [int(-math.log(1 - (k + 0.5) / _POOL) * 3 * 3600) for k in range(_POOL)]
        ids = [account_id(i) for i in range(self.accounts)]
        days, clock = times.days, times.clock
        accounts, span, getrandbits, mask = self.accounts, _SPAN_S, rng.getrandbits, _POOL - 1
        chunk: list[Any] = []
        append = chunk.append
        for _ in range(self.sessions):
            r = getrandbits(96)
            first = _FROM_S + ((((r >> 56) & 0x3FFFFFF) * span) >> 26)  # uniform over the span
            last = min(first + durations[(r >> 82) & mask], _UNTIL_S)
            aid, ip, port = ids[(r & 0xFFFFFFFF) % accounts], ips[(r >> 32) & mask], ports[(r >> 44) & mask]
            first_day, first_time = divmod(first, 86_400)
            last_day, last_time = divmod(last, 86_400)
            if text:
                append(f"{aid}\t{ip}\t{_NULL if port is None else port}\t{days[first_day]}{clock[first_time]}"
                       f"\t{days[last_day]}{clock[last_time]}\n")
            else:
                append((aid, ip, port, days[first_day] + clock[first_time], days[last_day] + clock[last_time]))
            if len(chunk) >= _BATCH:
                yield chunk
                chunk = []
                append = chunk.append
        if chunk:
            yield chunk


class _Times:
    """Seconds after 2019-01-01 as SQL timestamp text, from tables (a datetime each would cost more
    than the row): ``days[s // 86400] + clock[s % 86400]``."""

    def __init__(self, suffix: str) -> None:
        self.days = [(_BASE + timedelta(days=d)).strftime("%Y-%m-%d ") for d in range(_UNTIL_S // 86_400 + 2)]
        self.clock = [f"{h:02d}:{m:02d}:{s:02d}{suffix}" for h in range(24) for m in range(60) for s in range(60)]

    def __call__(self, seconds: int) -> str:
        day, rest = divmod(seconds, 86_400)
        return self.days[day] + self.clock[rest]


def _statements(path: Path) -> list[str]:
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class _Loader:
    """Rows into one table: COPY on PostgreSQL, multi-row INSERTs elsewhere."""

    def __init__(self, connection: Any, postgresql: bool) -> None:
        self._raw = connection
        self._postgresql = postgresql

    def load(self, table: str, columns: Sequence[str], chunks: Iterator[list[str] | list[tuple[Any, ...]]],
             advance: Callable[[int], None]) -> None:
        cursor = self._raw.cursor()
        if self._postgresql:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for chunk in chunks:
                    copy.write("".join(chunk))  # type: ignore[arg-type]
                    advance(len(chunk))
        else:
            marks = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - our own names
            for chunk in chunks:
                cursor.executemany(sql, chunk)  # PyMySQL sends one multi-row INSERT a batch
                advance(len(chunk))
        cursor.close()


def fill(url: str, platform: Platform, *, schema: Path | None = None,
         console: Console | None = None) -> dict[str, float]:
    """Fill the platform at ``url``; seconds taken by phase (``accounts``, ``sessions``, ``indexes``)."""
    console = console or Console(stderr=True)
    engine = sqlalchemy.create_engine(url)
    postgresql = engine.dialect.name == "postgresql"
    times = _Times("+00" if postgresql else "")  # MySQL's DATETIME has no zone: UTC wall time
    deferred: list[str] = []
    took: dict[str, float] = {}
    try:
        if schema is not None:
            with engine.begin() as conn:
                for statement in _statements(schema):
                    if statement.upper().startswith(_DEFERRED):
                        deferred.append(statement)
                    else:
                        conn.exec_driver_sql(statement)
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            loader = _Loader(driver, postgresql)
            columns = TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
            with Progress(*columns, console=console, transient=False) as progress:
                started = time.perf_counter()
                task = progress.add_task("accounts", total=platform.accounts)
                _accounts(loader, platform, times, postgresql, lambda n: progress.advance(task, n))
                took["accounts"] = time.perf_counter() - started
                started = time.perf_counter()
                task = progress.add_task("ip sessions", total=platform.sessions)
                loader.load("ip_sessions", ("account_id", "ip", "port", "first_seen", "last_seen"),
                            platform.session_chunks(times, text=postgresql), lambda n: progress.advance(task, n))
                took["sessions"] = time.perf_counter() - started
            raw.commit()
        finally:
            raw.close()
        if deferred:
            started = time.perf_counter()
            with console.status(f"building {len(deferred)} indexes and foreign keys"), engine.begin() as conn:
                for statement in deferred:
                    conn.exec_driver_sql(statement)
            took["indexes"] = time.perf_counter() - started
        if postgresql:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")  # the planner's statistics, as autovacuum would gather them later
    finally:
        engine.dispose()
    return took


def _accounts(loader: _Loader, platform: Platform, times: _Times, postgresql: bool,
              advance: Callable[[int], None]) -> None:
    """Accounts, then their username changes and devices (kept in memory a batch at a time)."""
    tables = {"accounts": ("id", "username", "phone", "created_at"),
              "username_changes": ("account_id", "username", "valid_from", "valid_until"),
              "devices": ("account_id", "model", "platform", "app", "app_version", "first_seen", "last_seen")}
    rows = platform.account_rows(times)
    while True:
        batch = [row for _, row in zip(range(_BATCH), rows, strict=False)]
        if not batch:
            return
        grouped = {"accounts": [a for a, _, _ in batch], "username_changes": [c for _, cs, _ in batch for c in cs],
                   "devices": [d for _, _, ds in batch for d in ds]}
        for table, columns in tables.items():
            chunk: list[Any] = grouped[table]
            if postgresql:  # generated values hold no tab, newline or backslash
                chunk = ["\t".join(_NULL if v is None else v for v in row) + "\n" for row in chunk]
            loader.load(table, columns, iter([chunk]), lambda n: None)
        advance(len(batch))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the platform's database")
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--schema", type=Path, help="create the tables from this file first")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        platform = Platform(args.accounts, args.sessions, args.seed)
        took = fill(args.url, platform, schema=args.schema, console=console)
    except (ValueError, sqlalchemy.exc.SQLAlchemyError) as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        message = str(exc) if isinstance(exc, ValueError) else f"the database refused the fill ({reason})"
        console.print(f"fill: {message}", markup=False)
        return 1
    rate = args.sessions / took["sessions"] if took["sessions"] > 0 else float("inf")
    console.print(f"filled {args.accounts:,} accounts in {took['accounts']:.1f} s and {args.sessions:,} IP sessions "
                  f"in {took['sessions']:.1f} s ({rate:,.0f} rows/s)"
                  + (f"; indexes and foreign keys in {took['indexes']:.1f} s" if "indexes" in took else ""),
                  markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
