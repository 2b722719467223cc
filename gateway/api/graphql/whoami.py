"""`whoami`: the caller's own principal, for every role."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from gateway.api.graphql.context import RequestContext
from gateway.values.times import format_time

__all__ = ["PrincipalType", "WhoamiQuery"]


@strawberry.type(name="Principal")
class PrincipalType:
    id: strawberry.ID
    role: str
    name: str
    country: str | None
    key_id: str = strawberry.field(description="the kid of the key that signed this request's token")
    key_valid_until: str | None = strawberry.field(
        default=None, description="RFC 3339: when that key stops working, its principal having replaced it; "
                                  "null for a key that was not replaced")
    sealing_key_id: str | None = strawberry.field(
        default=None, description="the kid of the key disclosures to this principal are sealed to now; null "
                                  "when nothing would be sealed to it")


@strawberry.type
class WhoamiQuery:
    @strawberry.field(description="The principal whose token signed this request.")
    def whoami(self, info: strawberry.Info[RequestContext, None]) -> PrincipalType:
        caller = info.context.caller
        principal = caller.principal
        until = next((k.not_after for k in principal.keys if k.kid == caller.claims.kid), None)
        return PrincipalType(id=strawberry.ID(principal.id), role=principal.role.value, name=principal.name,
                             country=principal.country, key_id=caller.claims.kid,
                             key_valid_until=None if until is None else format_time(datetime.fromtimestamp(until, UTC)),
                             sealing_key_id=principal.sealing_kid)
