"""An authority replacing its own keys (docs/PROTOCOL.md §17.5): the statements it signs and the
two mutations that send them. No operator step: the key that signs the request signs the change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from client.http import GatewayClient
from crypto.keys import encode_public_key, key_id
from crypto.rotation import SEALING_ROTATION_DOMAIN, SIGNING_ROTATION_DOMAIN, sealing_rotation, signing_rotation
from crypto.signing import sign_document

__all__ = ["ROTATE_SEALING_KEY", "ROTATE_SIGNING_KEY", "WHOAMI_KEYS", "KeyState", "rotate_sealing_key",
           "rotate_signing_key", "whoami_keys"]

WHOAMI_KEYS: Final = "query WhoamiKeys { whoami { id keyId keyValidUntil sealingKeyId } }"
ROTATE_SIGNING_KEY: Final = (
    "mutation RotateSigningKey($newKey: String!, $signedAt: String!, $proof: String!, $possession: String!) "
    "{ rotateSigningKey(newKey: $newKey, signedAt: $signedAt, proof: $proof, possession: $possession) "
    "{ oldKid newKid oldKeyUntil } }")
ROTATE_SEALING_KEY: Final = (
    "mutation RotateSealingKey($newKey: String!, $signedAt: String!, $oldSealingKid: String, $proof: String!) "
    "{ rotateSealingKey(newKey: $newKey, signedAt: $signedAt, oldSealingKid: $oldSealingKid, proof: $proof) "
    "{ oldSealingKid newSealingKid } }")


@dataclass(frozen=True)
class KeyState:
    """What the gateway holds of the caller's keys now."""

    kid: str
    valid_until: str | None
    sealing_kid: str | None


def _now_text(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(int(clock()), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def whoami_keys(client: GatewayClient) -> KeyState:
    found = client.execute(WHOAMI_KEYS).data["whoami"]
    return KeyState(kid=str(found["keyId"]), valid_until=found["keyValidUntil"], sealing_kid=found["sealingKeyId"])


def rotate_signing_key(client: GatewayClient, *, current: SigningKey, new: SigningKey,
                       clock: Callable[[], float]) -> dict[str, Any]:
    """``rotateSigningKey`` sent with ``client`` (signing its tokens with ``current``): ``new`` takes
    over; the answer names both kids and the time the current key stops."""
    new_key = encode_public_key(new.verify_key)
    statement = signing_rotation(gateway=client.audience, principal=client.principal_id,
                                 old_kid=key_id(current.verify_key), new_key=new_key, time=_now_text(clock))
    variables = {"newKey": new_key, "signedAt": statement["time"],
                 "proof": sign_document(SIGNING_ROTATION_DOMAIN, statement, current),
                 "possession": sign_document(SIGNING_ROTATION_DOMAIN, statement, new)}
    return dict(client.execute(ROTATE_SIGNING_KEY, variables).data["rotateSigningKey"])


def rotate_sealing_key(client: GatewayClient, *, signer: SigningKey, old_sealing_kid: str | None, new: PrivateKey,
                       clock: Callable[[], float]) -> dict[str, Any]:
    """``rotateSealingKey`` sent with ``client``, whose tokens ``signer`` signs: disclosures are
    sealed to ``new`` from then on, in place of ``old_sealing_kid`` (the gateway's current one)."""
    new_key = encode_public_key(new.public_key)
    statement = sealing_rotation(gateway=client.audience, principal=client.principal_id,
                                 signing_kid=key_id(signer.verify_key), old_sealing_kid=old_sealing_kid,
                                 new_key=new_key, time=_now_text(clock))
    variables = {"newKey": new_key, "signedAt": statement["time"], "oldSealingKid": old_sealing_kid,
                 "proof": sign_document(SEALING_ROTATION_DOMAIN, statement, signer)}
    return dict(client.execute(ROTATE_SEALING_KEY, variables).data["rotateSealingKey"])
