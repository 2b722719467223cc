"""`whoami`: the caller's own principal, for every role."""

from __future__ import annotations

import strawberry

from gateway.api.graphql.context import RequestContext

__all__ = ["PrincipalType", "WhoamiQuery"]


@strawberry.type(name="Principal")
class PrincipalType:
    id: strawberry.ID
    role: str
    name: str
    country: str | None
    key_id: str = strawberry.field(description="the kid of the key that signed this request's token")


@strawberry.type
class WhoamiQuery:
    @strawberry.field(description="The principal whose token signed this request.")
    def whoami(self, info: strawberry.Info[RequestContext, None]) -> PrincipalType:
        caller = info.context.caller
        principal = caller.principal
        return PrincipalType(id=strawberry.ID(principal.id), role=principal.role.value, name=principal.name,
                             country=principal.country, key_id=caller.claims.kid)
