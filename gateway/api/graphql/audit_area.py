"""Audit operations (docs/PROTOCOL.md §5, §7): inclusion and consistency proofs and the latest checkpoint.

Who may ask is decided in :mod:`gateway.api.graphql.access` before any resolver runs: ``auditProof`` is for
auditors and authorities, the others for every role. Here, on top of that, an authority gets proofs
of its own entries only: those whose ``principal`` is itself (its requests, verified by its token).
Another entry is refused with ``FORBIDDEN_ROLE``. That refusal says only "not yours": the tree size
is public to every principal (``auditCheckpoint``), so the entry's existence is no secret, and
nothing about the entry itself (its principal, decision or order) shows in the answer.

Hashes are standard base64. Each proof carries a signed checkpoint of exactly the size it proves
against (see :mod:`gateway.audit.proofs` for when one is signed on demand).
"""

from __future__ import annotations

import strawberry

from crypto.encoding import b64encode
from gateway.api.graphql.context import RequestContext
from gateway.api.graphql.types import AuditEntryView, ConsistencyProof, InclusionProof
from gateway.audit import proofs
from gateway.audit.cosigned import published_checkpoint
from gateway.errors import BadRequest, ForbiddenRole
from gateway.principals.registry import Role

__all__ = ["AuditQuery"]

MAX_ENTRIES = 1000


def _own_entry(entry: proofs.StoredEntry, principal_id: str) -> bool:
    # The entry text, not its indexed copy: the text is what the leaf hash covers.
    document = entry.document()
    return document.get("principal") == principal_id and document.get("principal_verified") is True


@strawberry.type
class AuditQuery:
    @strawberry.field(description="Auditor: the inclusion proof of any entry; authority: of its own entries. "
                                  "treeSize defaults to the current size of the log.")
    def audit_proof(self, info: strawberry.Info[RequestContext, None], index: int,
                    tree_size: int | None = strawberry.UNSET) -> InclusionProof:
        context = info.context
        if tree_size is strawberry.UNSET:  # UNSET keeps the SDL as docs/PROTOCOL.md §5 writes it: `treeSize: Int`
            tree_size = None
        context.require(info)
        services = context.services
        with services.db.engine.connect() as connection:
            size = proofs.checked_tree_size(connection, tree_size)
            proofs.check_index(index, size)
            if context.role is Role.AUTHORITY and not _own_entry(proofs.stored_entry(connection, index),
                                                                  context.caller.principal.id):
                raise ForbiddenRole("an authority receives proofs of its own audit entries only")
            proof = proofs.inclusion(connection, index, size, origin=services.settings.origin,
                                     key=services.keys.signing_key)
        return InclusionProof(index=proof.index, tree_size=proof.tree_size, leaf_hash=b64encode(proof.leaf_hash),
                              hashes=[b64encode(h) for h in proof.hashes], checkpoint=proof.checkpoint)

    @strawberry.field(description="The proof that the log of fromSize entries is a prefix of the log of toSize "
                                  "entries, with a signed checkpoint of toSize.")
    def consistency_proof(self, info: strawberry.Info[RequestContext, None], from_size: int,
                          to_size: int) -> ConsistencyProof:
        services = info.context.services
        with services.db.engine.connect() as connection:
            proof = proofs.consistency(connection, from_size, to_size, origin=services.settings.origin,
                                       key=services.keys.signing_key)
        return ConsistencyProof(from_size=proof.from_size, to_size=proof.to_size,
                                hashes=[b64encode(h) for h in proof.hashes], checkpoint=proof.checkpoint)

    @strawberry.field(description="The latest published checkpoint with its witness cosignatures, as GET "
                                  "/audit/checkpoint serves it (null only before the first is signed).")
    def audit_checkpoint(self, info: strawberry.Info[RequestContext, None]) -> str | None:
        settings = info.context.services.settings
        with info.context.services.db.engine.connect() as connection:
            return published_checkpoint(connection, quorum=settings.quorum,
                                        witnesses=[w.vkey.split("+", 1)[0] for w in settings.witness_list])

    @strawberry.field(description="Auditor: up to `limit` (at most 1000) audit entries from index `fromIndex` on, "
                                  "each with its index and leaf hash.")
    def audit_entries(self, info: strawberry.Info[RequestContext, None], from_index: int,
                      limit: int = 100) -> list[AuditEntryView]:
        info.context.require(info)
        if from_index < 0:
            raise BadRequest("fromIndex must not be negative")
        if not 1 <= limit <= MAX_ENTRIES:
            raise BadRequest(f"limit must be 1 to {MAX_ENTRIES}")
        with info.context.services.db.engine.connect() as connection:
            entries = proofs.stored_entries(connection, from_index, limit)
        return [AuditEntryView(index=e.index, leaf_hash=b64encode(e.leaf_hash), entry=e.text) for e in entries]
