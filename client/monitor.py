"""``gateway audit monitor``: an outsider follows the log over time (docs/PROTOCOL.md §15).

No database and no gateway configuration: only the public endpoints (``/audit/checkpoint``, the hash
tiles), the log's and the witnesses' verifier keys, and, to check entries, an auditor's key for the
entry bundles. Like :mod:`client.http` it imports only ``crypto``, httpx and the standard library.

One :func:`check_once`: fetch the checkpoint; verify the log's signature and origin; count valid
cosignature/v1 lines of the trusted witnesses against the quorum; compute the tree's root from the
tiles and compare it with the signed root; prove from the tiles that the last verified checkpoint
(kept in ``<state>/monitor.json``) is a prefix of this one and verify that proof against the two
signed roots; optionally fetch the new entries and check each one's inclusion under the new root.
Only then the state moves on. Any failure raises :class:`MonitorAlarm`, whose message names the
tree sizes involved; the state stays at the last verified checkpoint, so the alarm repeats.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nacl.signing import SigningKey

from client.errors import MonitorAlarm, MonitorError
from client.http import certificate_problem

if TYPE_CHECKING:  # imported where a request is made (see client.http)
    import httpx
from crypto import merkle
from crypto.canonical import canonical_json, parse_json_object
from crypto.cosignature import CosignerVerifier, split_note, verify_cosignatures
from crypto.encoding import b64decode, b64encode
from crypto.errors import CryptoError
from crypto.note import Checkpoint, NoteVerifier, parse_checkpoint, verify_note
from crypto.tiles import TILE_WIDTH, TileHashes, TileRef, decode_bundle, tile_path, tile_width
from crypto.tokens import create_token

__all__ = ["Auditor", "FollowSummary", "MonitorConfig", "MonitorReport", "check_once", "follow"]

_STATE_FILE = "monitor.json"


@dataclass(frozen=True)
class Auditor:
    principal_id: str
    signing_key: SigningKey
    audience: str  # the gateway id (discovery's gateway_id)


@dataclass(frozen=True)
class MonitorConfig:
    url: str
    log_key: NoteVerifier
    witnesses: Sequence[CosignerVerifier] = ()
    quorum: int = 0
    auditor: Auditor | None = None


@dataclass(frozen=True)
class MonitorReport:
    previous_size: int | None
    size: int
    cosigned_by: list[str]
    entries_checked: int


@dataclass(frozen=True)
class FollowSummary:
    checks: int
    alarms: int
    errors: int  # checks that could not be made


@dataclass(frozen=True)
class _State:
    size: int
    root: bytes
    checkpoint: str


def _load(state_dir: Path, origin: str) -> _State | None:
    path = state_dir / _STATE_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["origin"] != origin:
            raise MonitorError(f"{path} follows the log {record['origin']!r}, not {origin!r}")
        return _State(int(record["size"]), b64decode(record["root"], length=32), str(record["checkpoint"]))
    except (OSError, ValueError, KeyError, CryptoError) as exc:
        raise MonitorError(f"the monitor state {path} is unreadable ({type(exc).__name__})") from exc


def _save(state_dir: Path, origin: str, checkpoint: Checkpoint, note: str) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"origin": origin, "size": checkpoint.size, "root": b64encode(checkpoint.root_hash),
                       "checkpoint": note}, indent=1).encode("utf-8")
    fd, temp = tempfile.mkstemp(dir=state_dir, prefix=".monitor.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, state_dir / _STATE_FILE)


def _get(http: httpx.Client, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    import httpx

    try:
        return http.get(url, headers=headers)
    except httpx.HTTPError as exc:
        problem = certificate_problem(exc)
        if problem is not None:
            raise MonitorError(f"GET {url}: the TLS certificate does not verify: {problem}; if it (or its CA) "
                               "is your own, pass its PEM file with --cacert FILE (or GATEWAY_CA_FILE)") from exc
        raise MonitorError(f"GET {url} failed: {type(exc).__name__}") from exc


def _verified_checkpoint(config: MonitorConfig, note: str) -> tuple[Checkpoint, list[str]]:
    try:
        text = verify_note(note, [config.log_key])
        checkpoint = parse_checkpoint(text)
    except CryptoError as exc:
        raise MonitorAlarm(f"the checkpoint does not verify with the log's key: {exc.message}") from exc
    if checkpoint.origin != config.log_key.name:
        raise MonitorAlarm(f"the checkpoint at tree size {checkpoint.size} is for origin {checkpoint.origin!r}")
    try:
        _, lines = split_note(note)
        cosigned = verify_cosignatures(text, lines, config.witnesses)
    except CryptoError as exc:
        raise MonitorAlarm(f"the checkpoint at tree size {checkpoint.size} carries a bad cosignature: "
                           f"{exc.message}") from exc
    if len(cosigned) < config.quorum:
        raise MonitorAlarm(f"the checkpoint at tree size {checkpoint.size} has {len(cosigned)} valid witness "
                           f"cosignatures; the quorum is {config.quorum}")
    return checkpoint, sorted(c.name for c in cosigned)


def check_once(config: MonitorConfig, state_dir: Path, http: httpx.Client, *, now: int,
               check_entries: bool = False) -> MonitorReport:
    """One round; raise :class:`MonitorAlarm` for an inconsistency, :class:`MonitorError` when the
    check could not be made. ``now`` (Unix seconds) dates the auditor's tokens."""
    base = config.url.rstrip("/")
    response = _get(http, base + "/audit/checkpoint")
    if response.status_code != 200:
        raise MonitorError(f"GET {base}/audit/checkpoint answered HTTP {response.status_code}")
    note = response.text
    checkpoint, cosigned = _verified_checkpoint(config, note)
    previous = _load(state_dir, checkpoint.origin)
    size = checkpoint.size

    def fetch(tile: TileRef) -> bytes:
        url = f"{base}/audit/tile/{tile_path(tile)}"
        headers = None
        if tile.level is None:
            assert config.auditor is not None
            token = create_token(config.auditor.signing_key, issuer=config.auditor.principal_id,
                                 audience=config.auditor.audience, body=b"", now=now)
            # tlog-tiles: clients SHOULD name gzip and identity; httpx undoes the gzip coding.
            headers = {"authorization": f"Bearer {token}", "accept-encoding": "gzip, identity"}
        answer = _get(http, url, headers)
        if answer.status_code != 200:
            raise MonitorAlarm(f"the log serves no {tile_path(tile)} although its checkpoint at tree size "
                               f"{size} needs it (HTTP {answer.status_code})")
        return answer.content

    tiles = TileHashes(fetch, size)
    try:
        if size > 0 and merkle.root(tiles, size) != checkpoint.root_hash:
            raise MonitorAlarm(f"the tiles do not hash to the signed root of tree size {size}")
    except CryptoError as exc:
        raise MonitorAlarm(f"the tiles of tree size {size} are malformed: {exc.message}") from exc
    if previous is not None:
        _check_consistent(tiles, previous, checkpoint)
    checked = 0
    if check_entries:
        if config.auditor is None:
            raise MonitorError("checking entries needs an auditor's key (--auditor-key and --auditor-id)")
        checked = _check_entries(tiles, fetch, 0 if previous is None else previous.size, checkpoint)
    _save(state_dir, checkpoint.origin, checkpoint, note)
    return MonitorReport(None if previous is None else previous.size, size, cosigned, checked)


def follow(config: MonitorConfig, state_dir: Path, http: httpx.Client, *, clock: Callable[[], float],
           sleep: Callable[[float], None], interval: float, checks: int | None = None, check_entries: bool = False,
           on_report: Callable[[MonitorReport], None], on_alarm: Callable[[MonitorAlarm], None],
           on_error: Callable[[MonitorError], None]) -> FollowSummary:
    """:func:`check_once` every ``interval`` seconds, ``checks`` times (None: until stopped): an
    alarm or a failed check is handed on and the next check still runs, since a monitor that stops
    at the first alarm watches nothing after it. ``clock`` and ``sleep`` are parameters so that a
    test moves time instead of waiting for it."""
    alarms = errors = done = 0
    while checks is None or done < checks:
        if done:
            sleep(interval)
        done += 1
        try:
            report = check_once(config, state_dir, http, now=int(clock()), check_entries=check_entries)
        except MonitorAlarm as exc:
            alarms += 1
            on_alarm(exc)
        except MonitorError as exc:
            errors += 1
            on_error(exc)
        else:
            on_report(report)
    return FollowSummary(done, alarms, errors)


def _check_consistent(tiles: TileHashes, previous: _State, checkpoint: Checkpoint) -> None:
    old, new = previous.size, checkpoint.size
    if new < old:
        raise MonitorAlarm(f"the log's checkpoint shrank: tree size {new} after the verified tree size {old}")
    if new == old:
        if checkpoint.root_hash != previous.root:
            raise MonitorAlarm(f"two different roots for tree size {new}: the log forked")
        return
    if old == 0:
        return  # the empty tree is a prefix of every tree
    try:
        proof = merkle.consistency_proof(tiles, old, new)
        merkle.verify_consistency(old, new, proof, previous.root, checkpoint.root_hash)
    except CryptoError as exc:
        raise MonitorAlarm(f"the checkpoint at tree size {new} is not consistent with the verified checkpoint "
                           f"at tree size {old}: the log was rewritten below size {old}") from exc


def _check_entries(tiles: TileHashes, fetch: Callable[[TileRef], bytes], first: int, checkpoint: Checkpoint) -> int:
    size = checkpoint.size
    checked = 0
    for bundle in range(first // TILE_WIDTH, (size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = tile_width(0, bundle, size)
        try:
            entries = decode_bundle(fetch(TileRef(None, bundle, width)))
        except CryptoError as exc:
            raise MonitorAlarm(f"entry bundle {bundle} of tree size {size} is malformed: {exc.message}") from exc
        if len(entries) != width:
            raise MonitorAlarm(f"entry bundle {bundle} holds {len(entries)} entries, tree size {size} needs {width}")
        for offset, entry in enumerate(entries):
            index = bundle * TILE_WIDTH + offset
            if index < first:
                continue
            try:
                document = parse_json_object(entry, what="audit entry")
                canonical = canonical_json(document) == entry
                proof = merkle.inclusion_proof(tiles, index, size)
                merkle.verify_inclusion(merkle.leaf_hash(entry), index, size, proof, checkpoint.root_hash)
            except CryptoError as exc:
                raise MonitorAlarm(f"entry {index} is not the leaf the tree of size {size} holds: "
                                   f"{exc.message}") from exc
            if not canonical or document.get("index") != index:
                raise MonitorAlarm(f"entry {index} of tree size {size} is not canonical or names another index")
            checked += 1
    return checked
