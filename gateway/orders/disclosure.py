"""Sealing one field of one subject for the order's authority (docs/PROTOCOL.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nacl.public import PublicKey
from nacl.signing import SigningKey

from crypto.sealing import SealedValue, seal_record
from gateway.errors import FieldNotPermitted
from gateway.orders.policy import OrderDocument
from gateway.subjects.record import SubjectRecord
from gateway.values.times import rfc3339_us

__all__ = ["Disclosure", "seal_field"]


@dataclass(frozen=True)
class Disclosure:
    """One disclosure: who receives what under which order, in which HTTP request (``request_id``,
    its audit entry's), signed with the gateway's signing key."""

    request_id: str
    order: OrderDocument
    recipient: PublicKey
    gateway_key: SigningKey
    now: datetime


def seal_field(disclosure: Disclosure, subject: SubjectRecord, field: str) -> SealedValue:
    """The signed §4 record of ``field`` for ``subject``, sealed to the authority. List values hold
    only events overlapping the order's data window. Raise ``FIELD_NOT_PERMITTED`` for a field the
    order does not list (the scope check has refused that already; this is the second lock)."""
    order = disclosure.order
    if field not in order.fields or subject.id not in order.subjects:
        raise FieldNotPermitted("the order does not permit this disclosure; nothing was disclosed")
    record = {
        "v": 1, "request_id": disclosure.request_id, "order_id": order.order_id, "subject_id": subject.id,
        "field": field, "value": subject.field_value(field, (order.data_window.start, order.data_window.end)),
        "disclosed_at": rfc3339_us(disclosure.now),
    }
    return seal_record(record, disclosure.gateway_key, disclosure.recipient)
