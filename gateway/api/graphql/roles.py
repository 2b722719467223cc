"""Who may select what: every root field with the roles that may select it, and the non-root fields
restricted to some roles, stated once. The access check before any resolver runs
(:func:`gateway.api.graphql.access.authorize`) and each resolver's own check
(:meth:`gateway.api.graphql.context.RequestContext.require`) both read these tables, deny by
default: a root field missing from the table is refused, so a new operation is closed until
someone opens it here.
"""

from __future__ import annotations

from gateway.errors import ForbiddenRole
from gateway.principals.registry import Role

__all__ = ["FIELD_ROLES", "ROOT_ROLES", "check_role"]

_ALL = frozenset(Role)
ROOT_ROLES: dict[tuple[str, str], frozenset[Role]] = {
    ("Query", "whoami"): _ALL,
    ("Query", "order"): frozenset({Role.AUTHORITY}),
    ("Query", "subject"): frozenset({Role.AUTHORITY}),
    ("Query", "requests"): frozenset({Role.AUTHORITY, Role.REVIEWER}),
    ("Query", "requestById"): frozenset({Role.AUTHORITY, Role.REVIEWER}),
    ("Query", "orderById"): frozenset({Role.REVIEWER, Role.AUDITOR}),
    ("Query", "orders"): frozenset({Role.REVIEWER, Role.AUDITOR}),
    ("Query", "auditProof"): frozenset({Role.AUDITOR, Role.AUTHORITY}),
    ("Query", "consistencyProof"): _ALL,
    ("Query", "auditCheckpoint"): _ALL,
    ("Query", "transparencyReports"): frozenset({Role.AUDITOR}),
    ("Query", "transparencyReport"): frozenset({Role.AUDITOR}),
    ("Query", "auditEntries"): frozenset({Role.AUDITOR}),
    ("Mutation", "submitRequest"): frozenset({Role.AUTHORITY}),
    ("Mutation", "draftOrder"): frozenset({Role.REVIEWER}),
    ("Mutation", "approveOrder"): frozenset({Role.REVIEWER}),
    ("Mutation", "rejectRequest"): frozenset({Role.REVIEWER}),
    ("Mutation", "revokeOrder"): frozenset({Role.REVIEWER}),
    ("Mutation", "verifyEmergency"): frozenset({Role.REVIEWER}),
    ("Mutation", "attachCourtOrder"): frozenset({Role.AUTHORITY}),
    ("Mutation", "requestClarification"): frozenset({Role.REVIEWER}),
    ("Mutation", "answerClarification"): frozenset({Role.AUTHORITY}),
    ("Mutation", "amendRequest"): frozenset({Role.AUTHORITY}),
    ("Mutation", "withdrawRequest"): frozenset({Role.AUTHORITY}),
    ("Mutation", "submitPreservation"): frozenset({Role.AUTHORITY}),
    ("Mutation", "extendPreservation"): frozenset({Role.AUTHORITY}),
    ("Mutation", "grantPreservation"): frozenset({Role.REVIEWER}),
    ("Mutation", "rejectPreservation"): frozenset({Role.REVIEWER}),
    ("Mutation", "rotateSigningKey"): frozenset({Role.AUTHORITY}),
    ("Mutation", "rotateSealingKey"): frozenset({Role.AUTHORITY}),
    ("Query", "preservations"): frozenset({Role.AUTHORITY, Role.REVIEWER}),
    ("Query", "preservationCounts"): frozenset({Role.REVIEWER, Role.AUDITOR}),
    ("Query", "requestEvents"): frozenset({Role.AUTHORITY}),
    ("Mutation", "setWebhook"): frozenset({Role.AUTHORITY}),
}
"""Root fields and the roles that may select them."""

FIELD_ROLES: dict[tuple[str, str], frozenset[Role]] = {
    # To an authority these would say who is a user (docs/PROTOCOL.md §5).
    ("LegalRequest", "resolvedSubjectIds"): frozenset({Role.REVIEWER}),
    ("LegalRequest", "unresolvedSelectors"): frozenset({Role.REVIEWER}),
    # Free texts that name people or officers, and who at the platform verified: reviewers only.
    ("LegalRequest", "verification"): frozenset({Role.REVIEWER}),
    ("Clarification", "by"): frozenset({Role.REVIEWER}),
    ("RequestVersion", "resolvedSubjectIds"): frozenset({Role.REVIEWER}),
    ("RequestVersion", "unresolvedSelectors"): frozenset({Role.REVIEWER}),
    ("RequestVersion", "subjectsAdded"): frozenset({Role.REVIEWER}),
    ("RequestVersion", "subjectsRemoved"): frozenset({Role.REVIEWER}),
    ("Preservation", "subjectIds"): frozenset({Role.REVIEWER}),
    ("Preservation", "unresolvedSelectors"): frozenset({Role.REVIEWER}),
    ("Order", "subjects"): frozenset({Role.AUTHORITY}),
}
"""Non-root fields restricted to some roles; every other field is open to whoever reached its parent."""


def check_role(type_name: str, field_name: str, role: Role) -> None:
    """Raise ``FORBIDDEN_ROLE`` unless ``role`` may select ``type_name.field_name``."""
    root = type_name in ("Query", "Mutation")
    allowed = (ROOT_ROLES if root else FIELD_ROLES).get((type_name, field_name))
    if allowed is None and root:
        raise ForbiddenRole(f"{field_name} is not open to any principal")
    if allowed is not None and role not in allowed:
        names = " or ".join(sorted(r.value for r in allowed))
        raise ForbiddenRole(f"{field_name} is for a {names}; your principal is a {role.value}")
