"""One durable commit per request (issue 12): the token's jti and the order's charge commit with the
entry, and a jti twice in one batch is refused the second time. SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select

from gateway.audit.model import AuditEvent, Decision
from gateway.audit.writer import AuditWriter
from gateway.store.engine import Database
from gateway.store.tables import OrderRow, SeenToken

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _event(jti: str, *, order: str | None = None) -> AuditEvent:
    charged = {} if order is None else {"decision": Decision.DISCLOSED, "order_id": order, "charge_order": order,
                                        "max_queries": 5, "disclosure_sha256": "ab" * 32}
    return AuditEvent(**{"request_id": "req_" + secrets.token_hex(12), "time": NOW, "decision": Decision.SERVED,
                         "principal": "bka-de", "principal_verified": True, "jti": jti,
                         "consume_token": ("bka-de", jti, 10**10), **charged})


def test_a_jti_twice_in_one_batch_is_refused_the_second_time(make_writer: Callable[..., AuditWriter],
                                                              make_order: Callable[..., str], db: Database) -> None:
    writer = make_writer()
    order = make_order(max_queries=5)
    # One transaction, as the committer thread makes of requests queued together.
    first, again, other = writer._transaction([_event("jti-1", order=order), _event("jti-1", order=order),
                                               _event("jti-2")])
    assert (first.decision, first.code) == (Decision.DISCLOSED, None)
    assert (again.decision, again.code) == (Decision.REFUSED, "TOKEN_REPLAYED")
    assert (other.decision, other.code) == (Decision.SERVED, None)
    (later,) = writer._transaction([_event("jti-1")])
    assert (later.decision, later.code) == (Decision.REFUSED, "TOKEN_REPLAYED")
    with db.engine.connect() as connection:
        jtis = sorted(connection.execute(select(SeenToken.jti)).scalars())  # type: ignore[call-overload]
        used = connection.execute(select(OrderRow.queries_used).where(OrderRow.id == order)).scalar_one()  # type: ignore[call-overload,arg-type]
    assert jtis == ["jti-1", "jti-2"]
    assert used == 1, "a replay refused at commit is not charged"
    assert writer.batches == 2, "the jtis and the charge took no commit of their own"


def test_a_refused_request_still_spends_its_token(make_writer: Callable[..., AuditWriter]) -> None:
    writer = make_writer()
    refused = replace(_event("jti-r"), decision=Decision.REFUSED, code="FORBIDDEN_ROLE")
    (receipt,) = writer._transaction([refused])
    assert receipt.code == "FORBIDDEN_ROLE", "an entry refused already keeps its own code"
    (replay,) = writer._transaction([_event("jti-r")])
    assert (replay.decision, replay.code) == (Decision.REFUSED, "TOKEN_REPLAYED")
