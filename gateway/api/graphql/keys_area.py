"""A principal's own keys (docs/PROTOCOL.md §17.5): an authority replaces its token key or its
sealing key with a statement signed by the key its token is signed with; no operator step."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from gateway.api.graphql.context import RequestContext
from gateway.transparency import facts
from gateway.values.times import format_time

__all__ = ["KeysMutation", "SealingKeyRotationType", "SigningKeyRotationType"]


@strawberry.type(name="SigningKeyRotation")
class SigningKeyRotationType:
    old_kid: str
    new_kid: str
    old_key_until: str = strawberry.field(description="RFC 3339: tokens signed with the old key work until then")


@strawberry.type(name="SealingKeyRotation")
class SealingKeyRotationType:
    old_sealing_kid: str | None
    new_sealing_kid: str = strawberry.field(description="every disclosure answered from now on is sealed to it")


@strawberry.type
class KeysMutation:
    @strawberry.mutation(description="Authority: replace the key signing this request's token with newKey. "
                                     "proof is the current key's signature over the statement, possession the "
                                     "new key's (docs/PROTOCOL.md §17.5).")
    def rotate_signing_key(self, info: strawberry.Info[RequestContext, None], new_key: str, signed_at: str,
                           proof: str, possession: str) -> SigningKeyRotationType:
        context = info.context
        context.require(info)
        principal = context.caller.principal
        rotation = context.services.rotations.rotate_signing_key(
            principal, token_kid=context.caller.claims.kid, new_key=new_key, signed_at=signed_at, proof=proof,
            possession=possession, now=context.now, entry=context.request_id, undo=context.undo)
        until = format_time(datetime.fromtimestamp(rotation.old_key_until, UTC))
        context.outcome.facts.append(facts.signing_key_rotated(principal.id, rotation.old_kid, rotation.new_kid,
                                                               until))
        return SigningKeyRotationType(old_kid=rotation.old_kid, new_kid=rotation.new_kid, old_key_until=until)

    @strawberry.mutation(description="Authority: seal every disclosure from now on to newKey (X25519) instead of "
                                     "oldSealingKid; proof is the token key's signature over the statement "
                                     "(docs/PROTOCOL.md §17.5).")
    def rotate_sealing_key(self, info: strawberry.Info[RequestContext, None], new_key: str, signed_at: str,
                           old_sealing_kid: str | None, proof: str) -> SealingKeyRotationType:
        context = info.context
        context.require(info)
        principal = context.caller.principal
        rotation = context.services.rotations.rotate_sealing_key(
            principal, token_kid=context.caller.claims.kid, new_key=new_key, signed_at=signed_at,
            old_sealing_kid=old_sealing_kid, proof=proof, now=context.now, entry=context.request_id,
            undo=context.undo)
        context.outcome.facts.append(facts.sealing_key_rotated(principal.id, rotation.old_sealing_kid,
                                                               rotation.new_sealing_kid))
        return SealingKeyRotationType(old_sealing_kid=rotation.old_sealing_kid,
                                      new_sealing_kid=rotation.new_sealing_kid)
