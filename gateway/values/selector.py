"""One subject named by id, username or phone number: what a legal request, a preservation request
and a ``subject(by:)`` query select by (docs/PROTOCOL.md §5)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import BadRequest

__all__ = ["Selector"]


@dataclass(frozen=True)
class Selector:
    """Exactly one of a subject id, a username or a phone number."""

    kind: str  # "id" | "username" | "phoneNumber"
    value: str

    @classmethod
    def of(cls, id: str | None, username: str | None, phone_number: str | None) -> Selector:
        given = [(k, v) for k, v in (("id", id), ("username", username), ("phoneNumber", phone_number))
                 if v is not None]
        if len(given) != 1:
            raise BadRequest("a subject selector takes exactly one of id, username or phoneNumber")
        kind, value = given[0]
        if not value or len(value) > 128:
            raise BadRequest(f"the {kind} selector must be 1-128 characters")
        return cls(kind, value)
