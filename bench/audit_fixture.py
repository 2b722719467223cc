"""A pre-filled audit log for the benchmarks: real entries, real leaf hashes, real tree nodes and
signed checkpoints, written straight into the tables in large transactions.

This is a fixture, not a second writer: it runs on a database no gateway is serving, before the
gateway starts, and it builds each row exactly as :mod:`gateway.audit.writer` does (the §7 entry
from an :class:`AuditEvent`, its JCS text and leaf hash, the nodes it completes, a checkpoint every
``every_entries``), so `gateway audit verify` accepts the result. What it skips is the writer's
per-batch locking and queueing, which a million entries through a running server would take
hours of.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from nacl.signing import SigningKey
from sqlalchemy import create_engine, insert, update

from crypto import merkle
from crypto.canonical import canonical_json
from crypto.note import sign_checkpoint
from gateway.audit.checkpoints import note_name
from gateway.audit.model import SALT_BYTES, AuditEvent, Decision, entry_columns, entry_document
from gateway.store.tables import AuditCheckpoint, AuditEntry, AuditNode, OrderRow

__all__ = ["fill_log"]

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_nodes = AuditNode.__table__  # type: ignore[attr-defined]
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_orders = OrderRow.__table__  # type: ignore[attr-defined]
_CHUNK = 20_000


def fill_log(url: str, entries: int, *, key: SigningKey, origin: str, every_entries: int = 256,
             principal: str = "bench-authority", order_ids: Sequence[str] = (), disclosed: int = 0,
             start: datetime | None = None) -> float:
    """Append ``entries`` entries to the empty log at ``url``; return the seconds it took.

    The first ``disclosed`` times ``len(order_ids)`` entries are disclosures, ``disclosed`` on each
    order in turn (and each order's counter is charged for them, as the writer would); the rest
    are refusals, the commonest entry in a log under attack. Everything else in each entry is what
    the gateway writes."""
    began = time.perf_counter()
    engine = create_engine(url)
    edge = merkle.RightEdge()
    moment = start or datetime(2026, 6, 1, tzinfo=UTC)
    try:
        while edge.size < entries:
            rows: list[dict[str, object]] = []
            nodes: list[dict[str, object]] = []
            checkpoints: list[dict[str, object]] = []
            for _ in range(min(_CHUNK, entries - edge.size)):
                index = edge.size
                disclosure = index < disclosed * len(order_ids)
                order_id = order_ids[index % len(order_ids)] if disclosure else None
                event = AuditEvent(
                    request_id=f"req_{index:024x}", time=moment + timedelta(microseconds=index * 1000),
                    decision=Decision.DISCLOSED if disclosure else Decision.REFUSED,
                    code=None if disclosure else "UNAUTHENTICATED", principal=principal if disclosure else None,
                    principal_verified=disclosure, order_id=order_id if disclosure else None,
                    jti=f"jti{index}" if disclosure else None,
                    fields=["ipAddresses", "phoneNumber"] if disclosure else [],
                    subjects=["sub_bench"] if disclosure else [],
                    disclosure_sha256=f"{index:064x}" if disclosure else None)
                document = entry_document(event, index, event.decision, event.code,
                                          salt=os.urandom(SALT_BYTES))
                # RFC 8785 of these documents (ASCII keys, strings, small ints) is json.dumps with
                # sorted keys; the first of each chunk is checked against the real thing.
                text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
                if not rows and text != canonical_json(document):
                    raise AssertionError("the fast serialisation is not RFC 8785 for this entry")
                digest = merkle.leaf_hash(text)
                rows.append({"idx": index, "entry": text.decode("utf-8"), "leaf_hash": digest}
                            | entry_columns(document))
                nodes.extend({"level": lv, "idx": ix, "hash": h} for lv, ix, h in edge.append(digest))
                if edge.size % every_entries == 0:
                    checkpoints.append({"tree_size": edge.size, "root_hash": edge.root(), "created_at": 0,
                                        "note": sign_checkpoint(origin, edge.size, edge.root(), note_name(origin),
                                                                key)})
            with engine.begin() as connection:
                connection.execute(insert(_entries), rows)
                connection.execute(insert(_nodes), nodes)
                if checkpoints:
                    connection.execute(insert(_checkpoints), checkpoints)
        if order_ids and disclosed:
            with engine.begin() as connection:
                for number, order_id in enumerate(order_ids):
                    charged = len(range(number, min(entries, disclosed * len(order_ids)), len(order_ids)))
                    connection.execute(update(_orders).where(_orders.c.id == order_id).values(queries_used=charged))
    finally:
        engine.dispose()
    return time.perf_counter() - began
