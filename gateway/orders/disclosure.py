"""Sealing one field of one subject for the order's authority (docs/PROTOCOL.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nacl.public import PublicKey
from nacl.signing import SigningKey

from crypto.sealing import SealedValue, seal_record
from gateway.errors import FieldNotPermitted, SubjectNotPermitted
from gateway.orders.policy import OrderDocument
from gateway.subjects.source import SubjectSource
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


def seal_field(disclosure: Disclosure, source: SubjectSource, subject_id: str, field: str) -> SealedValue:
    """The signed §4 record of ``field`` for ``subject_id``, read from ``source`` and sealed to the
    authority at once. List values hold only events overlapping the order's data window. Raise
    ``FIELD_NOT_PERMITTED`` for a field or subject the order does not list, before the source is
    asked (the scope check has refused that already; this is the second lock), and
    ``SUBJECT_NOT_PERMITTED`` if the source has no such subject."""
    order = disclosure.order
    if field not in order.fields or subject_id not in order.subjects:
        raise FieldNotPermitted("the order does not permit this disclosure; nothing was disclosed")
    window = (order.data_window.start, order.data_window.end)
    value = source.read_field(subject_id, field, window)
    if value is None:
        raise SubjectNotPermitted("the order does not cover the selected subject; nothing was disclosed")
    record = {
        "v": 1, "request_id": disclosure.request_id, "order_id": order.order_id, "subject_id": subject_id,
        "field": field, "value": value, "disclosed_at": rfc3339_us(disclosure.now),
    }
    return seal_record(record, disclosure.gateway_key, disclosure.recipient)
