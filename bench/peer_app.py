"""The peer of bench/bench_disclosure.py: a bare strawberry app with the parser and validation
caches, serving the same query shape as a gateway disclosure (a subject by id with two sealed-looking
string fields of 200 and 600 bytes) and nothing else: no token, no order, no audit.

    uvicorn --app-dir . bench.peer_app:app
"""

from __future__ import annotations

import strawberry
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

_PHONE = "p" * 200
_IPS = "i" * 600


@strawberry.type
class Sealed:
    algorithm: str
    recipient_key_id: str
    ciphertext: str


@strawberry.input
class SubjectSelector:
    id: strawberry.ID | None = None


@strawberry.type
class Subject:
    id: strawberry.ID

    @strawberry.field
    def phone_number(self) -> Sealed:
        return Sealed(algorithm="x25519-xsalsa20-poly1305", recipient_key_id="k", ciphertext=_PHONE)

    @strawberry.field
    def ip_addresses(self) -> Sealed:
        return Sealed(algorithm="x25519-xsalsa20-poly1305", recipient_key_id="k", ciphertext=_IPS)


@strawberry.type
class Query:
    @strawberry.field
    def subject(self, by: SubjectSelector) -> Subject:
        return Subject(id=by.id or strawberry.ID(""))


schema = strawberry.Schema(query=Query, extensions=[ParserCache, ValidationCache])
app = GraphQL(schema, graphql_ide=None)
