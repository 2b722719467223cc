"""The sql subject source (docs/PROTOCOL.md §9.2): the platform's own database, on PostgreSQL and on
MariaDB, answers the same sealed values as the embedded store; a source that cannot answer refuses
the request with SOURCE_UNAVAILABLE, audited, nothing disclosed, the order not charged; a bad mapping
stops the gateway with one line; nothing read is kept by the gateway."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from nacl.signing import VerifyKey
from typer.testing import CliRunner

from crypto.sealing import SealedValue, open_record
from gateway.config import Settings
from gateway.errors import OperatorError, SourceUnavailable
from gateway.maintenance.initialize import initialize
from gateway.services import Services
from gateway.subjects.mapping import load_mapping
from gateway.subjects.sql_source import SqlSource
from gateway.subjects.synthetic import generate_subjects
from tests.support.audit import document
from tests.support.harness import running_gateway
from tests.support.lifecycle import GRANT_HOLD, SUBMIT_HOLD
from tests.support.plaintext import leaks, secrets_of
from tests.support.platform import EXAMPLES, mariadb_platform, platform_subjects, postgresql_platform
from tests.support.world import World, build_world

WINDOW = {"from": "2026-03-01T00:00:00Z", "until": "2026-08-01T00:00:00Z"}
FIELDS = ["phoneNumber", "ipAddresses", "devices", "usernameHistory"]
QUERY = """query($p: String!) { subject(by: {phoneNumber: $p}) { id
    phoneNumber { recipientKeyId ciphertext } ipAddresses { recipientKeyId ciphertext }
    devices { recipientKeyId ciphertext } usernameHistory { recipientKeyId ciphertext } } }"""
SUBJECTS = platform_subjects(list(generate_subjects(6, seed=11)))


@pytest.fixture(params=["postgresql", "mariadb"])
def platform(request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """(URL, mapping file) of the example platform holding SUBJECTS."""
    kind = str(request.param)
    opened = postgresql_platform if kind == "postgresql" else mariadb_platform
    with opened(SUBJECTS) as url:
        yield url, EXAMPLES / f"mapping.{kind}.toml"


def _sql_settings(make_settings: Callable[..., Settings], tmp_path: Path, url: str, mapping: Path,
                  **overrides: object) -> Settings:
    url_file = tmp_path / "source-url"
    url_file.write_text(url + "\n")
    config = make_settings(data_dir=tmp_path / "sql-var", database_url=f"sqlite:///{tmp_path / 'sql-gateway.db'}",
                           subject_source="sql", subject_source_mapping=mapping,
                           subject_source_url=url_file.read_text().strip(), **overrides)
    initialize(config)
    return config


@pytest.fixture
def sql_world(make_settings: Callable[..., Settings], tmp_path: Path, platform: tuple[str, Path],
              caplog: pytest.LogCaptureFixture) -> Iterator[World]:
    """A gateway whose embedded store is empty and whose subjects are the platform's."""
    caplog.set_level(logging.DEBUG)
    config = _sql_settings(make_settings, tmp_path, *platform, metrics=True)
    with running_gateway(config) as harness:
        yield build_world(harness, generated=SUBJECTS, import_subjects=False)


def _open(world: World, data: dict[str, Any]) -> list[dict[str, Any]]:
    discovery = world.gateway.client.get("/.well-known/disclosure-gateway").json()
    key = VerifyKey(base64.b64decode(discovery["gateway_signing_key"]))
    assert world.authority.sealing_key is not None
    return [open_record(SealedValue("x25519-xsalsa20poly1305-sealedbox", data[f]["recipientKeyId"],
                                    data[f]["ciphertext"]), world.authority.sealing_key, key) for f in FIELDS]


def _active(world: World) -> dict[str, Any]:
    """An approved order for every field of the first three subjects, in WINDOW."""
    order = world.draft(world.submit(fields=FIELDS, window=WINDOW))
    for reviewer in world.reviewers[:2]:
        assert world.approve(order, reviewer).status_code == 200
    return order


def _disclose(world: World, order: dict[str, Any], subject: dict[str, Any]) -> Any:
    return world.gateway.post(world.authority, QUERY, variables={"p": subject["phone"]}, order=order["id"])


def _queries_used(world: World, order: dict[str, Any]) -> int:
    response = world.gateway.post(world.authority, "{ order { queriesUsed } }", order=order["id"])
    return int(response.json()["data"]["order"]["queriesUsed"])


def _refused(world: World, response: Any, order: dict[str, Any]) -> None:
    """SOURCE_UNAVAILABLE, audited as refused, no data, the order not charged."""
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE" and "data" not in body
    entry = document(world.gateway.services.db, body["extensions"]["audit"]["index"])
    assert entry["decision"] == "refused" and entry["code"] == "SOURCE_UNAVAILABLE"
    assert entry["disclosure_sha256"] is None
    assert _queries_used(world, order) == 0


def test_a_disclosure_through_the_sql_source_opens_to_what_the_embedded_store_answers(
        sql_world: World, make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    embedded_config = make_settings(data_dir=tmp_path / "embedded-var",
                                    database_url=f"sqlite:///{tmp_path / 'embedded.db'}")
    initialize(embedded_config)
    with running_gateway(embedded_config) as harness:
        embedded = build_world(harness, generated=SUBJECTS)
        answers: list[list[dict[str, Any]]] = [[], []]
        for answered, world in zip(answers, (embedded, sql_world), strict=True):
            order = _active(world)
            for subject in SUBJECTS[:3]:  # named by phone, username and id in the request
                response = _disclose(world, order, subject)
                assert response.status_code == 200, response.text
                answered.extend(_open(world, response.json()["data"]["subject"]))
    keep = ("subject_id", "field", "value")
    assert [{k: r[k] for k in keep} for r in answers[1]] == [{k: r[k] for k in keep} for r in answers[0]]
    assert len(answers[1]) == 3 * len(FIELDS)
    assert any(r["value"] for r in answers[1] if r["field"] == "ipAddresses")
    assert any(r["value"] for r in answers[1] if r["field"] == "devices")


def test_the_source_failing_mid_request_refuses_it_audited_and_uncharged(
        sql_world: World, platform: tuple[str, Path]) -> None:
    order = _active(sql_world)
    engine = sqlalchemy.create_engine(platform[0])
    with engine.begin() as conn:  # the phone still reads; the IP events no longer do
        conn.execute(sqlalchemy.text("ALTER TABLE ip_sessions RENAME TO ip_sessions_gone"))
    engine.dispose()
    _refused(sql_world, _disclose(sql_world, order, SUBJECTS[0]), order)


def test_a_source_that_is_down_refuses_the_request(sql_world: World, platform: tuple[str, Path]) -> None:
    order = _active(sql_world)
    dead = sqlalchemy.engine.make_url(platform[0]).set(host="127.0.0.1", port=1)
    services = sql_world.gateway.services
    live, services.source = services.source, SqlSource(sqlalchemy.create_engine(dead), load_mapping(platform[1]))
    try:
        _refused(sql_world, _disclose(sql_world, order, SUBJECTS[0]), order)
    finally:
        assert isinstance(services.source, SqlSource)
        services.source.dispose()
        services.source = live


def test_a_request_submitted_while_the_source_fails_is_refused_and_nothing_stored(
        sql_world: World, platform: tuple[str, Path]) -> None:
    from sqlalchemy import func, select

    from gateway.store.tables import LegalRequestRow

    engine = sqlalchemy.create_engine(platform[0])
    with engine.begin() as conn:  # resolving the request's selectors fails
        conn.execute(sqlalchemy.text("ALTER TABLE accounts RENAME TO accounts_gone"))
    engine.dispose()
    with pytest.raises(AssertionError, match="SOURCE_UNAVAILABLE"):
        sql_world.submit(fields=FIELDS, window=WINDOW)
    with sql_world.gateway.services.db.session() as session:
        assert session.execute(select(func.count()).select_from(LegalRequestRow)).scalar_one() == 0


def test_a_value_of_the_wrong_shape_is_refused_and_nothing_disclosed(
        sql_world: World, platform: tuple[str, Path]) -> None:
    order = _active(sql_world)
    engine = sqlalchemy.create_engine(platform[0])
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE ip_sessions SET port = 70000 WHERE account_id = :a"),
                     {"a": SUBJECTS[0]["id"]})
    engine.dispose()
    _refused(sql_world, _disclose(sql_world, order, SUBJECTS[0]), order)


def test_nothing_disclosed_through_the_sql_source_stays_in_the_gateway(
        sql_world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Nor in plaintext what a preservation hold copied: the copy is sealed like an import."""
    order = _active(sql_world)
    for subject in SUBJECTS[:3]:
        response = _disclose(sql_world, order, subject)
        assert response.status_code == 200, response.text
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 10 * 86400))
    hold = sql_world.gateway.post(sql_world.authority, SUBMIT_HOLD, variables={"i": {
        "subjects": [{"phoneNumber": SUBJECTS[0]["phone"]}], "caseReference": "AZ 1/27", "jurisdiction": "DE",
        "legalBasis": "StPO", "until": until}}).json()["data"]["submitPreservation"]
    granted = sql_world.gateway.post(sql_world.reviewers[0], GRANT_HOLD, variables={"id": hold["id"]})
    assert granted.status_code == 200, granted.text
    copy = sql_world.gateway.services.subjects.get(SUBJECTS[0]["id"])
    assert copy is not None and copy.ip_events  # the search below could find them
    assert _disclose(sql_world, order, SUBJECTS[0]).status_code == 200  # served from the copy
    metrics = sql_world.gateway.client.get("/metrics")
    assert metrics.status_code == 200
    guarded = secrets_of(SUBJECTS)
    files = [p for p in tmp_path.iterdir() if p.name.startswith("sql-gateway.db")]
    assert files
    stored = [p.read_bytes().decode("latin-1") for p in files]
    logged = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert leaks(stored, guarded) == []
    assert leaks(logged, guarded) == []
    assert leaks([metrics.text], guarded) == []
    assert leaks(sql_world.gateway.bodies, guarded) == []


def _mapping_with(tmp_path: Path, platform: tuple[str, Path], purpose: str, sql: str) -> Path:
    """The platform's mapping with ``purpose``'s statement replaced by ``sql``."""
    statements = load_mapping(platform[1]).sql | {purpose: sql}
    path = tmp_path / f"mapping-{purpose}.toml"
    # A JSON string is a TOML basic string.
    path.write_text("[statements]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in statements.items()))
    return path


def _start_refusal(make_settings: Callable[..., Settings], tmp_path: Path, platform: tuple[str, Path],
                   mapping: Path) -> str:
    config = _sql_settings(make_settings, tmp_path, platform[0], mapping)
    with pytest.raises(OperatorError) as refused:
        Services.build(config)
    message = refused.value.message
    assert "\n" not in message
    return message


def test_a_wrong_column_stops_the_gateway_with_one_line(
        make_settings: Callable[..., Settings], tmp_path: Path, platform: tuple[str, Path]) -> None:
    mapping = _mapping_with(tmp_path, platform, "phone",
                            "SELECT phone AS telephone FROM accounts WHERE id = :subject_id")
    message = _start_refusal(make_settings, tmp_path, platform, mapping)
    assert "statement 'phone' returns columns (telephone)" in message and "(phone)" in message


def test_a_missing_column_in_the_source_stops_the_gateway(
        make_settings: Callable[..., Settings], tmp_path: Path, platform: tuple[str, Path]) -> None:
    mapping = _mapping_with(tmp_path, platform, "devices",
                            "SELECT model, platform, app, version AS app_version, first_seen, last_seen "
                            "FROM devices WHERE account_id = :subject_id")
    message = _start_refusal(make_settings, tmp_path, platform, mapping)
    assert message.startswith("subject source: statement 'devices' fails on the source")


@pytest.mark.parametrize("sql", [
    "UPDATE accounts SET phone = '+1' WHERE id = :subject_id",
    "DELETE FROM accounts WHERE id = :subject_id",
    "WITH gone AS (DELETE FROM accounts WHERE id = :subject_id RETURNING phone) SELECT phone FROM gone",
    "SELECT phone FROM accounts WHERE id = :subject_id; DROP TABLE accounts",
    "SELECT phone INTO OUTFILE '/tmp/x' FROM accounts WHERE id = :subject_id",
])
def test_a_statement_that_writes_is_refused_at_start(
        make_settings: Callable[..., Settings], tmp_path: Path, platform: tuple[str, Path], sql: str) -> None:
    message = _start_refusal(make_settings, tmp_path, platform, _mapping_with(tmp_path, platform, "phone", sql))
    assert "statement 'phone'" in message
    assert "only reads are allowed" in message or "more than one statement" in message


def test_a_write_the_text_does_not_show_is_refused_by_the_read_only_transaction(
        make_settings: Callable[..., Settings], tmp_path: Path, platform: tuple[str, Path]) -> None:
    """Drawing from a sequence writes; no keyword of the statement says so (both databases have sequences)."""
    engine = sqlalchemy.create_engine(platform[0])
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE SEQUENCE phones"))
    engine.dispose()
    draw = ("SELECT nextval('phones')::text AS phone FROM (SELECT CAST(:subject_id AS text)) AS one"
            if platform[0].startswith("postgresql") else
            "SELECT CAST(NEXTVAL(phones) AS CHAR) AS phone FROM (SELECT :subject_id AS id) AS one")
    message = _start_refusal(make_settings, tmp_path, platform, _mapping_with(tmp_path, platform, "phone", draw))
    assert "statement 'phone' fails on the source" in message
    assert re.search(r"read[- ]only transaction", message, re.IGNORECASE), message


def _counting_engine(url: str) -> tuple[sqlalchemy.Engine, list[str]]:
    """An engine whose driver cursors note each statement they send: what the database is asked,
    whichever way the source sends it."""
    sent: list[str] = []
    args: dict[str, Any]
    if url.startswith("postgresql"):
        import psycopg

        class PgCounting(psycopg.Cursor[Any]):
            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                sent.append(str(query))
                return super().execute(query, params, **kwargs)

        args = {"cursor_factory": PgCounting}
    else:
        import pymysql.cursors

        class MyCounting(pymysql.cursors.Cursor):
            def execute(self, query: Any, args: Any = None) -> Any:
                sent.append(str(query))
                return super().execute(query, args)

        args = {"cursorclass": MyCounting}
    return sqlalchemy.create_engine(url, connect_args=args), sent


def test_a_read_is_one_statement_on_a_connection_set_read_only_when_opened(platform: tuple[str, Path]) -> None:
    """Read-only and the timeout are the session's, set once per connection: a read sends the
    mapping's statement and nothing else (no SET, no START TRANSACTION, no ROLLBACK), on either
    database; and the session refuses a write (a statement the mapping could not hold)."""
    engine, sent = _counting_engine(platform[0])
    source = SqlSource(engine, load_mapping(platform[1]), timeout_s=2)
    window = (parse(WINDOW["from"]), parse(WINDOW["until"]))
    try:
        first = source.read_field(SUBJECTS[0]["id"], "phoneNumber", window)  # opens the pool's connection
        assert any("READ ONLY" in s.upper() or "READ_ONLY" in s.upper() for s in sent)
        sent.clear()
        assert first is not None and source.read_field(SUBJECTS[0]["id"], "phoneNumber", window) == first
        assert source.exists(SUBJECTS[1]["id"])
        assert [s.split(None, 1)[0].upper() for s in sent] == ["SELECT", "SELECT"], sent
        with engine.connect() as conn, pytest.raises(sqlalchemy.exc.DBAPIError) as refused:  # the pool's connection
            conn.execute(sqlalchemy.text("UPDATE accounts SET phone = '+1' WHERE id = :a"), {"a": SUBJECTS[0]["id"]})
        assert re.search(r"read[- ]only transaction", str(refused.value.orig), re.IGNORECASE)
    finally:
        source.dispose()


def test_a_statement_binding_what_the_gateway_does_not_supply_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    text = (EXAMPLES / "mapping.postgresql.toml").read_text()
    path.write_text(text.replace("WHERE phone = :phone", "WHERE phone = :phone OR id = :other"))
    with pytest.raises(OperatorError, match=r"statement 'resolve_by_phone' binds :other"):
        load_mapping(path)
    path.write_text(text.replace("WHERE phone = :phone", "WHERE true"))
    with pytest.raises(OperatorError, match=r"statement 'resolve_by_phone' does not bind :phone"):
        load_mapping(path)


def _slow(platform: tuple[str, Path]) -> str:
    if platform[0].startswith("postgresql"):
        return ("SELECT phone FROM accounts CROSS JOIN (SELECT pg_sleep(5)) AS slow "
                "WHERE id = :subject_id")
    return "SELECT phone FROM accounts WHERE id = :subject_id AND SLEEP(5) = 0"


def test_a_statement_that_outlasts_the_timeout_is_refused(
        make_settings: Callable[..., Settings], tmp_path: Path, platform: tuple[str, Path]) -> None:
    mapping = load_mapping(_mapping_with(tmp_path, platform, "phone", _slow(platform)))
    source = SqlSource(sqlalchemy.create_engine(platform[0]), mapping, timeout_s=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(SourceUnavailable):
            source.read_field(SUBJECTS[0]["id"], "phoneNumber", (parse(WINDOW["from"]), parse(WINDOW["until"])))
        assert time.monotonic() - started < 4
    finally:
        source.dispose()


def test_a_connection_the_database_dropped_is_replaced_and_the_read_answers(platform: tuple[str, Path]) -> None:
    if not platform[0].startswith("postgresql"):
        pytest.skip("pg_terminate_backend() is PostgreSQL's")
    engine = sqlalchemy.create_engine(platform[0])
    source = SqlSource(engine, load_mapping(platform[1]), timeout_s=2)
    window = (parse(WINDOW["from"]), parse(WINDOW["until"]))
    try:
        before = source.read_field(SUBJECTS[0]["id"], "phoneNumber", window)
        with engine.connect() as conn:  # the pool's one connection, the one the read used
            pid = conn.execute(sqlalchemy.text("SELECT pg_backend_pid()")).scalar_one()
        killer = sqlalchemy.create_engine(platform[0], poolclass=sqlalchemy.pool.NullPool)
        with killer.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        killer.dispose()
        assert source.read_field(SUBJECTS[0]["id"], "phoneNumber", window) == before
    finally:
        source.dispose()


def _checkouts(engine: sqlalchemy.Engine) -> list[object]:
    """A list that grows by one at each checkout from ``engine``'s pool."""
    taken: list[object] = []
    sqlalchemy.event.listen(engine, "checkout", lambda dbapi, record, proxy: taken.append(dbapi))
    return taken


def test_a_request_reads_through_one_connection_and_asks_once_whether_a_subject_exists(
        platform: tuple[str, Path]) -> None:
    """Inside request_reads: one checkout for all the reads, and an id the exists statement
    confirmed is not asked about again, so an empty list field costs its own statement only.
    Outside, each read is a checkout of its own, and an empty list asks whether the subject exists."""
    engine, sent = _counting_engine(platform[0])
    taken = _checkouts(engine)
    source = SqlSource(engine, load_mapping(platform[1]), timeout_s=2)
    subject = SUBJECTS[0]["id"]
    empty = (parse("2001-01-01T00:00:00Z"), parse("2001-02-01T00:00:00Z"))  # no one's events are there
    nobody = "sub_000000000000"

    def reads() -> list[object]:
        return [source.exists(subject), source.read_field(subject, "ipAddresses", empty),
                source.read_field(subject, "devices", empty), source.exists(nobody),
                source.read_field(nobody, "ipAddresses", empty)]

    try:
        reads()  # opens the pool's connection
        sent.clear(), taken.clear()
        alone = reads()
        alone_sent, alone_taken = len(sent), len(taken)
        sent.clear(), taken.clear()
        with source.request_reads():
            shared = reads()
        assert shared == alone == [True, [], [], False, None]
        # exists, ip_events, exists, devices, exists, exists(nobody), ip_events, exists(nobody)
        assert (alone_sent, alone_taken) == (8, 8)
        # exists, ip_events, devices, exists(nobody), ip_events, exists(nobody): "no" is asked again
        assert (len(sent), len(taken)) == (6, 1)
        sent.clear()
        assert source.exists(subject) and len(sent) == 1  # what the request learnt ended with it
    finally:
        source.dispose()


Killable = tuple[str, sqlalchemy.Engine, SqlSource, tuple[datetime, datetime], sqlalchemy.Engine]


def _killable_source(platform: tuple[str, Path]) -> Killable:
    """A source whose connections carry a name of their own, and an engine outside its pool to end
    them with ``pg_terminate_backend`` (PostgreSQL only: the test is skipped elsewhere)."""
    if not platform[0].startswith("postgresql"):
        pytest.skip("pg_terminate_backend() is PostgreSQL's")
    name = f"gateway-test-{secrets.token_hex(4)}"
    engine = sqlalchemy.create_engine(platform[0], connect_args={"application_name": name})
    source = SqlSource(engine, load_mapping(platform[1]), timeout_s=2)
    window = (parse(WINDOW["from"]), parse(WINDOW["until"]))
    return name, engine, source, window, sqlalchemy.create_engine(platform[0], poolclass=sqlalchemy.pool.NullPool)


def test_a_connection_dropped_during_a_request_is_replaced_and_the_read_answers(platform: tuple[str, Path]) -> None:
    name, _, source, window, killer = _killable_source(platform)
    try:
        with source.request_reads():
            before = source.read_field(SUBJECTS[0]["id"], "phoneNumber", window)
            with killer.connect() as conn:  # the request's connection, the only one with this name
                killed = conn.execute(sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                    {"n": name}).scalars().all()
            assert killed == [True]
            assert source.read_field(SUBJECTS[0]["id"], "phoneNumber", window) == before
            assert source.read_field(SUBJECTS[1]["id"], "phoneNumber", window) is not None
    finally:
        killer.dispose()
        source.dispose()


def test_after_the_database_dropped_every_connection_the_retry_opens_a_new_one(platform: tuple[str, Path]) -> None:
    """A restart drops all the pool's connections at once: the read that finds its connection
    gone is retried on one opened after, not on the next dead one the pool still holds."""
    name, engine, source, window, killer = _killable_source(platform)
    try:
        held = [engine.connect() for _ in range(3)]  # three connections, back in the pool idle
        for conn in held:
            conn.close()
        before = source.read_field(SUBJECTS[0]["id"], "phoneNumber", window)
        with killer.connect() as conn:
            killed = conn.execute(sqlalchemy.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": name}).scalars().all()
        assert killed == [True, True, True]
        assert source.read_field(SUBJECTS[0]["id"], "phoneNumber", window) == before
    finally:
        killer.dispose()
        source.dispose()


def test_a_disclosure_takes_one_connection_from_the_platform(sql_world: World) -> None:
    """The endpoint runs a request inside the source's request_reads: four fields of one subject,
    named by phone, are one checkout of a platform connection (and not one for each statement)."""
    order = _active(sql_world)
    platform_checkouts: list[str] = []

    def note(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):  # the gateway's own database is SQLite here
            platform_checkouts.append(type(dbapi_connection).__module__)

    sqlalchemy.event.listen(sqlalchemy.pool.Pool, "checkout", note)
    try:
        response = _disclose(sql_world, order, SUBJECTS[0])
    finally:
        sqlalchemy.event.remove(sqlalchemy.pool.Pool, "checkout", note)
    assert response.status_code == 200, response.text
    assert len(platform_checkouts) == 1, platform_checkouts


def test_gateway_sources_check_names_the_bad_statement_in_one_line(
        tmp_path: Path, platform: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.cli.main import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GATEWAY_SUBJECT_SOURCE", "sql")
    url_file = tmp_path / "url"
    url_file.write_text(platform[0] + "\n")
    monkeypatch.setenv("GATEWAY_SUBJECT_SOURCE_URL_FILE", str(url_file))
    monkeypatch.setenv("GATEWAY_SUBJECT_SOURCE_MAPPING", str(platform[1]))
    good = CliRunner().invoke(app, ["sources", "check"])
    assert good.exit_code == 0, good.output
    assert "7 statements checked" in good.output
    bad = _mapping_with(tmp_path, platform, "ip_events",
                        "SELECT ip, port, first_seen FROM ip_sessions WHERE account_id = :subject_id")
    monkeypatch.setenv("GATEWAY_SUBJECT_SOURCE_MAPPING", str(bad))
    refused = CliRunner().invoke(app, ["sources", "check"])
    assert refused.exit_code == 2
    assert "statement 'ip_events' returns columns (ip, port, first_seen)" in refused.output
    assert len(refused.output.strip().splitlines()) == 1 and "://" not in refused.output  # no URL, no password


def parse(text: str) -> Any:
    from gateway.values.times import parse_time

    return parse_time(text)


def test_the_sql_source_needs_a_url_and_a_mapping(make_settings: Callable[..., Settings]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="GATEWAY_SUBJECT_SOURCE=sql needs"):
        make_settings(subject_source="sql")
    assert make_settings().subject_source == "embedded"


@pytest.mark.parametrize(("change", "reason"), [
    (lambda t: t.replace("[statements]", "[statements]\nfavourite_colour = \"SELECT 1\""),
     "statement 'favourite_colour' is no purpose"),
    (lambda t: t.replace('phone = "SELECT phone FROM accounts WHERE id = :subject_id"', ""),
     "statement 'phone' is missing"),
    (lambda t: t + "\n[extra]\n", "unknown table or key 'extra'"),
    (lambda t: t + "\n= broken", "is not TOML"),
    (lambda t: t.replace('"SELECT phone FROM accounts WHERE id = :subject_id"', "3"),
     "statement 'phone' is not a string"),
])
def test_a_mapping_is_refused_with_one_line_naming_what_is_wrong(
        tmp_path: Path, change: Callable[[str], str], reason: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(change((EXAMPLES / "mapping.postgresql.toml").read_text()))
    with pytest.raises(OperatorError) as refused:
        load_mapping(path)
    assert reason in refused.value.message and "\n" not in refused.value.message


def test_every_statement_of_the_example_postgresql_mapping_can_use_an_index() -> None:
    """With sequential scans priced out, no statement of the example mapping still needs one: the
    example schema has the index each purpose reads by (the tables here are too small for the
    planner to choose an index on its own)."""
    with postgresql_platform(SUBJECTS) as url:
        mapping = load_mapping(EXAMPLES / "mapping.postgresql.toml")
        engine = sqlalchemy.create_engine(url)
        params: dict[str, Any] = {"subject_id": SUBJECTS[0]["id"], "phone": "+447400000000", "username": "x",
                                  "window_from": parse(WINDOW["from"]), "window_until": parse(WINDOW["until"])}
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SET enable_seqscan = off")
                plans = {}
                for purpose, clause in mapping.statements.items():
                    bound = {k: v for k, v in params.items() if k in clause.compile().params}
                    rows = conn.execute(sqlalchemy.text(f"EXPLAIN {clause.text}"), bound)
                    plans[purpose] = "\n".join(str(r[0]) for r in rows)
        finally:
            engine.dispose()
    assert {p: plan for p, plan in plans.items() if "Seq Scan" in plan} == {}
    assert all("Index" in plan for plan in plans.values())
