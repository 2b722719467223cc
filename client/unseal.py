"""Opening a disclosure response on the authority's side (docs/PROTOCOL.md §4, §5, §7).

:func:`open_response` opens EVERY sealed value of a ``subject(by:)`` or ``order { subjects }``
response with the authority's X25519 key and, for each, checks the gateway's signature over the
record and that the record names the request (``extensions.audit.request_id``), the order, the
subject and the field it was found under. It returns values only when all of them pass: one bad
value fails the whole response, so no caller can print plaintext that did not verify.

Like ``crypto.sealing``, this module imports nothing of the gateway's server side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from nacl.public import PrivateKey
from nacl.signing import VerifyKey

from client.errors import UnsealError
from client.wire import DISCLOSABLE_FIELDS
from crypto.encoding import B64, KeyId
from crypto.errors import SealedValueError
from crypto.sealing import SealedValue, open_record

__all__ = [
    "OpenedResponse",
    "OpenedValue",
    "open_response",
    "response_parts",
]

_NOT_DATA: Final = frozenset({"id", "__typename"})


@dataclass(frozen=True)
class OpenedValue:
    """One verified disclosure: the record's ``value`` and the whole signed record."""

    subject_id: str
    field: str
    value: Any
    record: Mapping[str, Any]


@dataclass(frozen=True)
class OpenedResponse:
    """Every value of one response, all verified, in the order the response lists them."""

    request_id: str
    order_id: str
    values: tuple[OpenedValue, ...]

    def as_json(self) -> dict[str, Any]:
        """``{"request_id", "order_id", "records": [R, ...]}`` with each verified §4 record."""
        return {"request_id": self.request_id, "order_id": self.order_id,
                "records": [dict(v.record) for v in self.values]}


def response_parts(document: object) -> tuple[Mapping[str, Any], str]:
    """The ``data`` and ``extensions.audit.request_id`` of a whole response document (a saved file).

    Raises :class:`UnsealError` when the document is not a served GraphQL response with both."""
    if not isinstance(document, Mapping):
        raise UnsealError("the response is not a JSON object")
    if document.get("errors"):
        raise UnsealError("the response is a refusal; it holds no sealed values")
    data = document.get("data")
    extensions = document.get("extensions")
    audit = extensions.get("audit") if isinstance(extensions, Mapping) else None
    request_id = audit.get("request_id") if isinstance(audit, Mapping) else None
    if not isinstance(data, Mapping):
        raise UnsealError("the response holds no data")
    if not isinstance(request_id, str) or not request_id:
        raise UnsealError("the response carries no extensions.audit.request_id, so its values cannot be tied "
                          "to an audit entry")
    return data, request_id


def _subjects(data: Mapping[str, Any], order_id: str | None) -> list[Any]:
    if "subject" in data:
        return [data["subject"]]
    order = data.get("order")
    if isinstance(order, Mapping) and isinstance(order.get("subjects"), list):
        listed = order.get("id")
        if order_id is not None and listed is not None and listed != order_id:
            raise UnsealError(f"the response is about order {listed}, not {order_id}")
        return list(order["subjects"])
    raise UnsealError("the response holds no subject data (neither `subject` nor `order { subjects }`)")


def _sealed(value: object, where: str) -> SealedValue:
    if not isinstance(value, Mapping):
        raise UnsealError(f"{where}: the response holds no sealed value")
    algorithm, kid, ciphertext = value.get("algorithm"), value.get("recipientKeyId"), value.get("ciphertext")
    if not (isinstance(algorithm, str) and isinstance(kid, str) and isinstance(ciphertext, str)):
        raise UnsealError(f"{where}: the sealed value lacks algorithm, recipientKeyId or ciphertext")
    return SealedValue(algorithm=algorithm, recipient_key_id=KeyId(kid), ciphertext=B64(ciphertext))


def open_response(data: Mapping[str, Any], request_id: str, *, sealing_key: PrivateKey, gateway_key: VerifyKey,
                  order_id: str | None = None, fields: Sequence[str] | None = None,
                  subject_id: str | None = None) -> OpenedResponse:
    """Open and verify every sealed value in ``data``; return them all or raise :class:`UnsealError`.

    Each record must carry the gateway's signature (``gateway_key``) and name ``request_id``, the
    subject whose ``id`` encloses it, and the field it sits under. When given, ``order_id``,
    ``fields`` (each must be present for every subject, and no other) and ``subject_id`` (the
    one subject asked for) are required too; without ``order_id``, all records must name one
    order. A subject listed by ``order.subjectIds`` must be among them.
    """
    subjects = _subjects(data, order_id)
    order = data.get("order")
    listed_ids = order.get("subjectIds") if isinstance(order, Mapping) else None
    wanted_fields = None if fields is None else list(dict.fromkeys(fields))
    opened: list[OpenedValue] = []
    order_ids: set[str] = set()
    for position, subject in enumerate(subjects):
        if not isinstance(subject, Mapping) or not isinstance(subject.get("id"), str):
            raise UnsealError(f"subject #{position + 1} in the response has no id")
        sid: str = subject["id"]
        if subject_id is not None and sid != subject_id:
            raise UnsealError(f"the response is about subject {sid}, not {subject_id}")
        if isinstance(listed_ids, list) and sid not in listed_ids:
            raise UnsealError(f"subject {sid} is not among the order's subjectIds")
        present = [key for key in subject if key not in _NOT_DATA]
        for key in present:
            if key not in DISCLOSABLE_FIELDS or (wanted_fields is not None and key not in wanted_fields):
                raise UnsealError(f"subject {sid}: the response holds {key!r}, which was not asked for")
        for field in wanted_fields if wanted_fields is not None else present:
            where = f"subject {sid} field {field}"
            sealed = _sealed(subject.get(field), where)
            expect = {"request_id": request_id, "subject_id": sid, "field": field}
            if order_id is not None:
                expect["order_id"] = order_id
            try:
                record = open_record(sealed, sealing_key, gateway_key, expect=expect)
            except SealedValueError:
                # One message whatever failed, as open_record does: which check it was would not
                # help the reader, and nothing from inside the box may reach the screen.
                raise UnsealError(
                    f"{where}: the sealed value failed verification (it does not open with this sealing key, "
                    "its gateway signature does not verify, or it names another request, order, subject or "
                    "field); nothing from this response was shown") from None
            order_ids.add(str(record["order_id"]))
            opened.append(OpenedValue(subject_id=sid, field=field, value=record["value"], record=record))
    if len(order_ids) > 1:
        raise UnsealError(f"the response's records name {len(order_ids)} different orders; nothing was shown")
    found_order = order_ids.pop() if order_ids else order_id
    if found_order is None:
        listed = order.get("id") if isinstance(order, Mapping) else None
        found_order = listed if isinstance(listed, str) else ""
    return OpenedResponse(request_id=request_id, order_id=found_order, values=tuple(opened))
