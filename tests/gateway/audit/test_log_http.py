"""The log for outsiders over HTTP: fresh checkpoints, public hash tiles, entry bundles for auditors
only (a token over the empty body), and auditEntries in GraphQL."""

from __future__ import annotations

import gzip
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from client.monitor import Auditor, MonitorConfig, check_once
from crypto.encoding import b64encode
from crypto.merkle import inclusion_proof, leaf_hash, root, verify_inclusion
from crypto.note import parse_checkpoint, parse_verifier_key, verify_note
from crypto.tiles import TileHashes, TileRef, decode_bundle, tile_path
from gateway.audit.checkpointer import CheckpointSchedule
from gateway.config import Settings
from gateway.principals.registry import Role
from tests.support.audit import event
from tests.support.harness import Actor, Harness, running_gateway
from tests.support.jwt import mint

WHOAMI = "{ whoami { id } }"
ENTRIES = "query($f: Int!, $l: Int!) { auditEntries(fromIndex: $f, limit: $l) { index leafHash entry } }"


def served_checkpoint(gateway: Harness) -> tuple[int, bytes]:
    response = gateway.client.get("/audit/checkpoint")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    key = parse_verifier_key(gateway.client.get("/.well-known/disclosure-gateway").json()["checkpoint_verifier_key"])
    checkpoint = parse_checkpoint(verify_note(response.text, [key]))
    return checkpoint.size, checkpoint.root_hash


def get_tile(gateway: Harness, tile: TileRef, token: str | None = None) -> bytes:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = gateway.client.get(f"/audit/tile/{tile_path(tile)}", headers=headers)
    assert response.status_code == 200, (tile_path(tile), response.text)
    return response.content


def token(gateway: Harness, actor: Actor) -> str:
    return mint(actor.signing_key, iss=actor.id, aud=gateway.settings.id, body=b"")


@pytest.fixture
def auditor(gateway: Harness) -> Actor:
    return gateway.add(Role.AUDITOR, "oversight")


def test_the_checkpoint_is_served_before_the_first_entry(gateway: Harness) -> None:
    assert served_checkpoint(gateway)[0] == 0


def test_the_schedule_covers_every_commit_within_the_interval() -> None:
    # Commits at arbitrary moments, polls every `poll` seconds: the first checkpoint signed after a
    # commit covers it within every_seconds (minus two polls of margin), and checkpoints stay ~1/s.
    schedule = CheckpointSchedule.for_interval(1.0, every_entries=10**9)
    commits = sorted({round(0.037 * i + (i * i % 7) * 0.11, 3) for i in range(400)})
    size = signed = 0
    signed_at: list[float] = []
    pending: list[float] = []
    step = 0
    while step * schedule.poll <= commits[-1] + 2:
        now = step * schedule.poll
        while size < len(commits) and commits[size] <= now:
            pending.append(commits[size])
            size += 1
        if schedule.due(now, size, signed):
            schedule.signed(now)
            signed_at.append(now)
            assert all(now - t <= schedule.every_seconds - 2 * schedule.poll + 1e-9 for t in pending), pending
            pending.clear()
            signed = size
        step += 1
    assert not pending
    assert min(b - a for a, b in itertools.pairwise(signed_at)) >= 0.7 - 1e-9


def test_the_first_checkpoint_after_a_request_covers_it_within_one_second(
        make_settings: Callable[..., Settings], database_url: str) -> None:
    """The running gateway's own checkpointer thread signs on its schedule. The schedule's bound
    (every commit covered within the interval) is proven above on a clock the test moves; here, on
    the real clock, the interval is half the second allowed, so that a busy machine delaying the
    thread by a few hundred milliseconds is not mistaken for a thread that does not sign."""
    from gateway.maintenance.initialize import initialize

    config = make_settings(database_url=database_url, checkpoint_every_seconds=0.5)
    initialize(config)
    with running_gateway(config) as gateway:  # the background checkpointer runs on the real clock
        auditor = gateway.add(Role.AUDITOR, "oversight")
        receipt = gateway.post(auditor, WHOAMI).json()["extensions"]["audit"]
        answered = time.monotonic()
        while served_checkpoint(gateway)[0] <= receipt["index"]:
            assert time.monotonic() - answered < 1.0, "no checkpoint covered the entry within 1 s"
            time.sleep(0.01)


def test_hash_tiles_are_public_and_recompute_the_signed_root(gateway: Harness) -> None:
    for _ in range(600):
        gateway.services.audit.submit(event())
    gateway.services.audit.append_sync(event())
    gateway.services.audit.checkpoint_now()
    size, signed_root = served_checkpoint(gateway)
    assert size == 601
    assert root(TileHashes(lambda t: get_tile(gateway, t), size), size) == signed_root
    assert gateway.client.get("/audit/tile/0/002.p/89").headers["cache-control"].endswith("immutable")
    assert gateway.client.get("/audit/tile/0/002.p/90").status_code == 404  # past the tree
    assert gateway.client.get("/audit/tile/0/003").status_code == 404
    bad = gateway.client.get("/audit/tile/0/2")
    assert (bad.status_code, bad.json()["errors"][0]["extensions"]["code"]) == (400, "BAD_REQUEST")


def test_entry_bundles_refuse_without_an_auditor_token(gateway: Harness, auditor: Actor) -> None:
    authority = gateway.add(Role.AUTHORITY, "bka-de")
    gateway.post(auditor, WHOAMI)
    url = "/audit/tile/entries/000.p/1"
    cases = [({}, 401, "UNAUTHENTICATED"),
             ({"authorization": f"Bearer {token(gateway, authority)}"}, 403, "FORBIDDEN_ROLE"),
             ({"authorization": "Bearer " + mint(auditor.signing_key, iss=auditor.id, aud=gateway.settings.id,
                                                 body=b"x")}, 401, "TOKEN_BODY_MISMATCH")]
    for headers, status, code in cases:
        response = gateway.client.get(url, headers=headers)
        assert (response.status_code, response.json()["errors"][0]["extensions"]["code"]) == (status, code)
        assert "req_" not in response.text and "operation_sha256" not in response.text  # no entry leaked
    once = token(gateway, auditor)
    assert gateway.client.get(url, headers={"authorization": f"Bearer {once}"}).status_code == 200
    replayed = gateway.client.get(url, headers={"authorization": f"Bearer {once}"})
    assert replayed.json()["errors"][0]["extensions"]["code"] == "TOKEN_REPLAYED"


def test_entry_bundles_hold_the_entries_whose_leaves_the_tree_holds(gateway: Harness, auditor: Actor) -> None:
    receipts = [gateway.post(auditor, WHOAMI).json()["extensions"]["audit"] for _ in range(5)]
    gateway.services.audit.checkpoint_now()
    size, signed_root = served_checkpoint(gateway)
    tiles = TileHashes(lambda t: get_tile(gateway, t), size)
    entries = decode_bundle(get_tile(gateway, TileRef(None, 0, size), token(gateway, auditor)))
    assert len(entries) == size
    for receipt in receipts:
        entry = entries[receipt["index"]]
        assert b64encode(leaf_hash(entry)) == receipt["leaf_hash"]
        verify_inclusion(leaf_hash(entry), receipt["index"], size, inclusion_proof(tiles, receipt["index"], size),
                         signed_root)


def test_entry_bundles_are_gzip_coded_for_clients_that_take_gzip_and_plain_otherwise(
        gateway: Harness, auditor: Actor) -> None:
    for _ in range(40):
        gateway.post(auditor, WHOAMI)
    gateway.services.audit.checkpoint_now()
    size, _ = served_checkpoint(gateway)
    url = f"/audit/tile/{tile_path(TileRef(None, 0, size))}"

    def raw(accept_encoding: str) -> tuple[dict[str, str], bytes]:
        headers = {"authorization": f"Bearer {token(gateway, auditor)}", "accept-encoding": accept_encoding}
        with gateway.client.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200
            return dict(response.headers), b"".join(response.iter_raw())

    plain_headers, plain = raw("identity")
    assert "content-encoding" not in plain_headers and len(decode_bundle(plain)) == size
    for accept in ("gzip", "gzip, deflate, br, zstd", "*"):
        headers, body = raw(accept)
        assert headers["content-encoding"] == "gzip", accept
        assert gzip.decompress(body) == plain and len(body) < len(plain) // 2
        assert int(headers["content-length"]) == len(body)
    for accept in ("identity", "gzip;q=0, identity", "deflate"):
        headers, body = raw(accept)
        assert "content-encoding" not in headers and body == plain, accept
    for headers in (plain_headers, raw("gzip")[0]):  # the coding follows the request: caches must key on it
        assert (headers["vary"], headers["cache-control"]) == ("Accept-Encoding", "private, no-store")
        assert headers["content-type"] == "application/octet-stream"
    tile = gateway.client.get(f"/audit/tile/0/000.p/{size}", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in tile.headers and len(tile.content) == 32 * size  # hashes stay as they are


def test_the_monitor_asks_for_gzip_and_identity_and_checks_the_gzip_coded_bundles(
        gateway: Harness, auditor: Actor, tmp_path: Path) -> None:
    for _ in range(300):
        gateway.services.audit.submit(event())
    gateway.services.audit.append_sync(event())
    gateway.services.audit.checkpoint_now()
    log_key = gateway.client.get("/.well-known/disclosure-gateway").json()["checkpoint_verifier_key"]
    config = MonitorConfig(url="http://testserver", log_key=parse_verifier_key(log_key),
                           auditor=Auditor(auditor.id, auditor.signing_key, gateway.settings.id))
    answers: list[httpx.Response] = []
    gateway.client.event_hooks["response"] = [answers.append]
    report = check_once(config, tmp_path, gateway.client, now=int(time.time()), check_entries=True)
    assert (report.size, report.entries_checked) == (301, 301)
    bundles = [a for a in answers if "/tile/entries/" in a.request.url.path]
    assert [a.request.url.path for a in bundles] == ["/audit/tile/entries/000", "/audit/tile/entries/001.p/45"]
    assert all((a.request.headers["accept-encoding"], a.headers["content-encoding"]) == ("gzip, identity", "gzip")
               for a in bundles)


def test_audit_entries_are_for_auditors_with_index_and_leaf_hash(gateway: Harness, auditor: Actor) -> None:
    authority = gateway.add(Role.AUTHORITY, "bka-de")
    for _ in range(4):
        gateway.post(auditor, WHOAMI)
    page = gateway.post(auditor, ENTRIES, variables={"f": 1, "l": 2}).json()["data"]["auditEntries"]
    assert [e["index"] for e in page] == [1, 2]
    assert all(e["leafHash"] == b64encode(leaf_hash(e["entry"].encode())) for e in page)
    refused = gateway.post(authority, ENTRIES, variables={"f": 0, "l": 2}).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN_ROLE"
    too_many = gateway.post(auditor, ENTRIES, variables={"f": 0, "l": 1001}).json()
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_REQUEST"

