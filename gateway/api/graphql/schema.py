"""The GraphQL schema, composed from one mixin per area; `schema.graphql` is generated from it."""

from __future__ import annotations

import functools

import strawberry

from gateway.api.graphql.audit_area import AuditQuery
from gateway.api.graphql.authority import AuthorityMutation, AuthorityQuery
from gateway.api.graphql.conversation_area import ConversationMutation
from gateway.api.graphql.keys_area import KeysMutation
from gateway.api.graphql.notifications_area import NotificationsMutation, NotificationsQuery
from gateway.api.graphql.preservation_area import PreservationMutation, PreservationQuery
from gateway.api.graphql.review import ReviewMutation, ReviewQuery
from gateway.api.graphql.transparency_area import TransparencyQuery
from gateway.api.graphql.whoami import WhoamiQuery

__all__ = ["build_schema", "schema_sdl"]


@strawberry.type
class Query(WhoamiQuery, AuthorityQuery, ReviewQuery, AuditQuery, TransparencyQuery, PreservationQuery,
            NotificationsQuery):
    pass


@strawberry.type
class Mutation(AuthorityMutation, ReviewMutation, PreservationMutation, ConversationMutation, NotificationsMutation,
               KeysMutation):
    pass


@functools.cache
def build_schema() -> strawberry.Schema:
    """The schema, built once a process: strawberry converts every type anew for each build (about
    0.1 s), and what it builds holds no state of a request or of an app, so every app shares one."""
    return strawberry.Schema(query=Query, mutation=Mutation)


def schema_sdl() -> str:
    """The schema as SDL, exactly as committed in `schema.graphql`."""
    return build_schema().as_str() + "\n"
