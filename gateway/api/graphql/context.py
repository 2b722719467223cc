"""The typed context every resolver receives, and the outcome it builds for the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from crypto.keys import decode_sealing_public_key
from crypto.sealing import SealedValue
from gateway.api.graphql.roles import check_role
from gateway.audit.model import Action
from gateway.errors import ForbiddenRole, SubjectNotPermitted
from gateway.orders.disclosure import Disclosure, seal_field
from gateway.orders.model import OrderState
from gateway.principals.authenticate import Caller
from gateway.principals.registry import Role
from gateway.store.undo import Undo
from gateway.values.selector import Selector

if TYPE_CHECKING:
    from strawberry import Info

    from gateway.services import Services

__all__ = ["Outcome", "RequestContext"]

# Decoding checks the key's point with an X25519 multiplication (crypto.keys), twice per
# disclosure of two fields; a registered key is public and never changes, so it is checked once.
_recipient_key = lru_cache(maxsize=1024)(decode_sealing_public_key)


@dataclass
class Outcome:
    """What the request did, as far as the audit log must know: filled in by resolvers."""

    order_id: str | None = None
    fields: set[str] = field(default_factory=set)
    subjects: set[str] = field(default_factory=set)
    ciphertexts: list[str] = field(default_factory=list)
    charge_order: str | None = None
    max_queries: int | None = None
    facts: list[dict[str, Any]] = field(default_factory=list)  # written only if the request is served
    action: Action | None = None  # an effect the audit entry must prove (a revocation)


@dataclass
class RequestContext:
    services: Services
    caller: Caller
    request_id: str
    now: datetime
    outcome: Outcome = field(default_factory=Outcome)
    order: OrderState | None = None
    resolved: dict[Selector, str] = field(default_factory=dict)
    undo: list[Undo] = field(default_factory=list)  # reverses this request's committed mutations

    @property
    def role(self) -> Role:
        return self.caller.principal.role

    def require(self, info: Info[Any, Any]) -> None:
        """Refuse with ``FORBIDDEN_ROLE`` unless the caller's role may run the field ``info``
        resolves, by the one table (:mod:`gateway.api.graphql.roles`). The access check refused
        the operation before any resolver ran; this holds each resolver to the same rule."""
        type_name = info.path.typename
        if type_name not in ("Query", "Mutation"):  # only root resolvers ask; anything else is closed
            raise ForbiddenRole(f"{info.field_name} is not open to any principal")
        check_role(type_name, info.field_name, self.role)

    def subject_for(self, selector: Selector) -> str:
        """The id of the subject a pre-checked selector resolved to (the scope check resolved them all)."""
        subject_id = self.resolved.get(selector)
        if subject_id is None or not self.services.source.exists(subject_id):
            raise SubjectNotPermitted("the order does not cover the selected subject; nothing was disclosed")
        return subject_id

    def order_subjects(self) -> list[str]:
        if self.order is None or self.order.document is None:
            raise SubjectNotPermitted("no active order is in scope for this request")
        source = self.services.source
        return [s for s in sorted(self.order.document.subjects) if source.exists(s)]

    def disclose(self, subject_id: str, field_name: str) -> SealedValue:
        """Read one field from the subject source, seal it for the caller at once and record it in the
        outcome (one query for the request). The value itself is kept nowhere."""
        if self.order is None or self.order.document is None or self.caller.principal.sealing_key is None:
            raise SubjectNotPermitted("no active order is in scope for this request")
        document = self.order.document
        sealed = seal_field(Disclosure(
            request_id=self.request_id, order=document,
            recipient=_recipient_key(self.caller.principal.sealing_key),
            gateway_key=self.services.keys.signing_key, now=self.now), self.services.source, subject_id, field_name)
        self.outcome.ciphertexts.append(sealed.ciphertext)
        self.outcome.fields.add(field_name)
        self.outcome.subjects.add(subject_id)
        self.outcome.charge_order, self.outcome.max_queries = document.order_id, document.max_queries
        return sealed
