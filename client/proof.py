"""An outsider's offline check of a saved inclusion proof (``gateway audit check-proof``,
docs/PROTOCOL.md §9): the checkpoint's signature by the key valid at its size, the entry's leaf
hash and the audit path to the signed root. No database, no gateway configuration, no gateway key:
only the proof file and the verifier keys from ``/.well-known/disclosure-gateway``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from client.errors import UsageError
from crypto.canonical import canonical_json, parse_json_object
from crypto.encoding import b64decode, b64encode
from crypto.errors import EncodingError
from crypto.key_schedule import ScheduledVerifier, single, verify_by_size
from crypto.merkle import leaf_hash, verify_inclusion
from crypto.note import parse_verifier_key

__all__ = ["check_saved_proof", "discovered_schedule", "read_proof", "read_text"]


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {type(exc).__name__}") from exc


def read_proof(path: Path) -> dict[str, Any]:
    """The proof file as a JSON object; :class:`UsageError` when it cannot be read as one."""
    try:
        return parse_json_object(read_text(path), what="proof file")
    except EncodingError as exc:
        raise UsageError(f"{path}: {exc.message}") from exc


def discovered_schedule(path: Path) -> list[ScheduledVerifier]:
    """The verifier keys of a saved discovery document, with the sizes each signs."""
    try:
        document = parse_json_object(read_text(path), what="discovery document")
    except EncodingError as exc:
        raise UsageError(f"{path}: {exc.message}") from exc
    listed = document.get("checkpoint_verifier_keys")
    if not isinstance(listed, list):
        current = document.get("checkpoint_verifier_key")
        if not isinstance(current, str):
            raise UsageError(f"{path} has neither checkpoint_verifier_keys nor checkpoint_verifier_key")
        return single(parse_verifier_key(current))
    schedule = []
    for item in listed:
        if not (isinstance(item, dict) and isinstance(item.get("verifier_key"), str)
                and isinstance(item.get("from_size"), int)
                and (item.get("until_size") is None or isinstance(item.get("until_size"), int))):
            raise UsageError(f"{path}: each checkpoint_verifier_keys item needs verifier_key, from_size and "
                             "until_size (null for the current key)")
        schedule.append(ScheduledVerifier(parse_verifier_key(item["verifier_key"]), item["from_size"],
                                          item["until_size"]))
    return schedule


def check_saved_proof(saved: dict[str, Any], verifier: list[ScheduledVerifier], origin: str | None) -> str:
    """Raise ``CryptoError``/``ValueError`` unless the proof holds; return what it proves."""
    index, size, entry = saved.get("index"), saved.get("tree_size"), saved.get("entry")
    hashes, claimed_leaf, note = saved.get("hashes"), saved.get("leaf_hash"), saved.get("checkpoint")
    if not (isinstance(index, int) and isinstance(size, int) and isinstance(entry, str) and isinstance(note, str)
            and isinstance(claimed_leaf, str) and isinstance(hashes, list)
            and all(isinstance(h, str) for h in hashes)) or isinstance(index, bool) or isinstance(size, bool):
        raise ValueError("the file needs index and tree_size (integers), leaf_hash, checkpoint and entry "
                         "(strings) and hashes (a list of strings)")
    checkpoint = verify_by_size(note, verifier, origin=origin)
    if checkpoint.size != size:
        raise ValueError(f"the checkpoint is for tree size {checkpoint.size}, the proof for {size}")
    raw = entry.encode("utf-8")
    document = parse_json_object(raw, what="entry")
    if canonical_json(document) != raw:
        raise ValueError("the entry is not in canonical RFC 8785 form, so it is not what was hashed")
    if document.get("index") != index:
        raise ValueError(f"the entry says it is entry {document.get('index')!r}, the proof is for {index}")
    leaf = leaf_hash(raw)
    if b64encode(leaf) != claimed_leaf:
        raise ValueError("leaf_hash is not SHA-256(0x00 || entry)")
    path = [b64decode(h, length=32, what="proof hash") for h in hashes]
    verify_inclusion(leaf, index, size, path, checkpoint.root_hash)
    return (f"proof holds: entry {index} is in the log {checkpoint.origin} of {size} entries, root "
            f"{b64encode(checkpoint.root_hash)}, signed by {checkpoint.origin}'s key for that size")
