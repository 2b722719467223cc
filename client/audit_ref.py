"""Where a response sits in the audit log: ``extensions.audit`` (docs/PROTOCOL.md §7), which both
a served answer (:mod:`client.http`) and a refusal (:class:`client.errors.GatewayRefused`) carry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AuditRef"]


@dataclass(frozen=True)
class AuditRef:
    """``extensions.audit`` of a response (docs/PROTOCOL.md §7): where the request sits in the log."""

    request_id: str
    index: int
    leaf_hash: str

    @classmethod
    def from_json(cls, value: object) -> AuditRef | None:
        """The reference, or ``None`` when ``value`` is not one (the caller decides if that matters)."""
        if not isinstance(value, Mapping):
            return None
        request_id, index, leaf = value.get("request_id"), value.get("index"), value.get("leaf_hash")
        if not isinstance(request_id, str) or not request_id or type(index) is not int or not isinstance(leaf, str):
            return None
        return cls(request_id=request_id, index=index, leaf_hash=leaf)

    def as_json(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "index": self.index, "leaf_hash": self.leaf_hash}
