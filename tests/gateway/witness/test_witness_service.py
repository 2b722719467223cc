"""The witness answers add-checkpoint as c2sp.org/tlog-witness prescribes, through its HTTP app."""

from __future__ import annotations

from pathlib import Path

import nacl.signing
import pytest
from starlette.testclient import TestClient

from crypto.cosignature import parse_cosigner_key, split_note, verify_cosignatures
from crypto.encoding import b64encode
from crypto.merkle import MemoryTree, consistency_proof, leaf_hash, root
from crypto.note import sign_checkpoint, verifier_key_string
from gateway.witness.app import create_witness_app
from gateway.witness.service import Witness, init_witness, origin_hash

ORIGIN = "log.test/audit"
LOG_KEY = nacl.signing.SigningKey(bytes(range(32)))
TREE = MemoryTree([leaf_hash(str(i).encode()) for i in range(20)])
NOW = 1_780_000_000


def note(size: int, *, key: nacl.signing.SigningKey = LOG_KEY, origin: str = ORIGIN, tree: MemoryTree = TREE) -> str:
    return sign_checkpoint(origin, size, root(tree, size), origin, key)


def body(old: int, size: int, *, proof: list[bytes] | None = None, checkpoint: str | None = None) -> bytes:
    if proof is None:
        proof = consistency_proof(TREE, old, size) if 0 < old < size else []
    lines = "".join(f"{b64encode(h)}\n" for h in proof)
    return f"old {old}\n{lines}\n".encode() + (checkpoint or note(size)).encode()


@pytest.fixture
def witness(tmp_path: Path) -> tuple[Witness, TestClient]:
    vkey = init_witness(tmp_path / "w", "witness.test/w1")
    loaded = Witness.load(tmp_path / "w", [verifier_key_string(ORIGIN, bytes(LOG_KEY.verify_key))])
    assert loaded.vkey == vkey
    return loaded, TestClient(create_witness_app(loaded, clock=lambda: float(NOW)))


def post(client: TestClient, data: bytes) -> tuple[int, str, str]:
    response = client.post("/add-checkpoint", content=data)
    return response.status_code, response.text, response.headers.get("content-type", "")


def test_a_consistent_series_is_cosigned_with_a_timestamped_cosignature(witness: tuple[Witness, TestClient]) -> None:
    service, client = witness
    trusted = [parse_cosigner_key(service.vkey)]
    for old, size in [(0, 0), (0, 5), (5, 5), (5, 13), (13, 20)]:
        status, text, _ = post(client, body(old, size))
        assert status == 200, text
        checkpoint_text, _ = split_note(note(size))
        (cosignature,) = verify_cosignatures(checkpoint_text, [text], trusted)
        assert cosignature.timestamp == NOW
    served = client.get(f"/{origin_hash(ORIGIN)}/checkpoint").text
    assert served.startswith(note(20)) and served.endswith(text)


def test_an_old_size_other_than_the_last_cosigned_gets_409_with_that_size(witness: tuple[Witness, TestClient]) -> None:
    _, client = witness
    assert post(client, body(0, 8))[0] == 200
    assert post(client, body(0, 12)) == (409, "8\n", "text/x.tlog.size")
    assert post(client, body(5, 12)) == (409, "8\n", "text/x.tlog.size")
    assert post(client, body(8, 12))[0] == 200


def test_the_409_content_type_is_exactly_text_x_tlog_size(witness: tuple[Witness, TestClient]) -> None:
    # Clients compare the whole header value: no parameter (no charset) may follow the media type.
    _, client = witness
    assert post(client, body(0, 8))[0] == 200
    response = client.post("/add-checkpoint", content=body(0, 12))
    assert response.status_code == 409
    assert [v for k, v in response.headers.raw if k.lower() == b"content-type"] == [b"text/x.tlog.size"]
    assert response.content == b"8\n"
    other = client.post("/add-checkpoint", content=b"\xff")  # every other answer is still UTF-8 text
    assert other.headers["content-type"] == "text/plain; charset=utf-8"


def test_a_checkpoint_inconsistent_with_the_cosigned_one_gets_422(witness: tuple[Witness, TestClient]) -> None:
    service, client = witness
    assert post(client, body(0, 10))[0] == 200
    fork = MemoryTree([leaf_hash(str(i).encode()) for i in range(5)] + [leaf_hash(b"other")] * 10)
    forked = note(12, tree=fork)
    status, text, _ = post(client, body(10, 12, proof=consistency_proof(fork, 10, 12), checkpoint=forked))
    assert (status, text) == (422, "not consistent with the checkpoint at tree size 10 this witness cosigned\n")
    assert post(client, body(10, 10, checkpoint=note(10, tree=fork)))[0] == 422  # same size, other root
    assert service.latest(ORIGIN).size == 10  # type: ignore[union-attr]


@pytest.mark.parametrize(("data", "status"), [
    (body(0, 3, proof=[bytes(32)]), 422),  # a proof from the empty tree
    (b"old 0\n\n" + sign_checkpoint(ORIGIN, 0, bytes(32), ORIGIN, LOG_KEY).encode(), 422),  # size 0, not the empty root
    (body(0, 3, checkpoint=note(3, key=nacl.signing.SigningKey.generate())), 403),  # not the log's key
    (body(0, 3, checkpoint=note(3).replace("\n3\n", "\n4\n")), 403),  # the signature does not verify
    (body(0, 3, checkpoint=note(3, origin="other.test/log")), 404),
    (body(7, 3), 400),  # old size past the checkpoint
    (b"old 01\n\n" + note(3).encode(), 400),
    (b"new 0\n\n" + note(3).encode(), 400),
    (b"old 0\n" + note(3).encode(), 400),
    (b"old 0\nnot-base64\n\n" + note(3).encode(), 400),
    (b"\xff", 400),
    (b"old 0\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + b"\n" + note(3).encode(), 400),
])
def test_bad_submissions_get_the_specs_status(witness: tuple[Witness, TestClient], data: bytes, status: int) -> None:
    service, client = witness
    assert post(client, data)[0] == status
    assert service.latest(ORIGIN) is None  # nothing was recorded


def test_the_monitoring_endpoint_answers_404_before_the_first_cosignature(witness: tuple[Witness, TestClient]) -> None:
    _, client = witness
    assert client.get(f"/{origin_hash(ORIGIN)}/checkpoint").status_code == 404
    assert client.get("/add-checkpoint").status_code == 405
