"""The gateway's own checkpoint keys as a schedule of tree sizes (docs/PROTOCOL.md §13): the
retired keys with the sizes each signed, then the current key. The schedule itself and its check
are :mod:`crypto.key_schedule`'s, shared with the client's verifiers."""

from __future__ import annotations

from crypto.key_schedule import ScheduledVerifier
from crypto.note import NoteVerifier
from gateway.audit.checkpoints import note_name
from gateway.keys.keyring import GatewayKeys

__all__ = ["schedule_for"]


def schedule_for(keys: GatewayKeys, origin: str) -> list[ScheduledVerifier]:
    """The gateway's checkpoint keys, earliest first, the current one last."""
    name = note_name(origin)
    schedule = [ScheduledVerifier(NoteVerifier.for_key(name, bytes(k.verify_key)), k.from_size, k.until_size)
                for k in keys.retired_signing_keys]
    schedule.append(ScheduledVerifier(NoteVerifier.for_key(name, bytes(keys.signing_key.verify_key)),
                                      keys.signing_from_size, None))
    return schedule
