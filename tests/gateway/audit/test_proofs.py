"""auditProof, consistencyProof and auditCheckpoint through GraphQL: the proofs verify with the
`crypto` verifier against checkpoints that verify with the discovery key; bad input is refused;
authorities get proofs of their own entries only (docs/PROTOCOL.md §5, §7)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from crypto import merkle
from crypto.note import Checkpoint, NoteVerifier, parse_verifier_key, verify_checkpoint
from gateway.audit.tree import DbTreeSource, completed_nodes
from gateway.principals.registry import Role
from gateway.store.engine import Database
from gateway.store.tables import AuditNode
from tests.support.harness import Actor, Harness

PROOF = "query($i: Int!, $n: Int) { auditProof(index: $i, treeSize: $n) { index treeSize leafHash hashes checkpoint } }"
CONSISTENCY = ("query($a: Int!, $b: Int!) { consistencyProof(fromSize: $a, toSize: $b) "
               "{ fromSize toSize hashes checkpoint } }")
CHECKPOINT = "{ auditCheckpoint }"
WHOAMI = "{ whoami { id } }"


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def discovery_verifier(gateway: Harness) -> tuple[NoteVerifier, str]:
    document = gateway.client.get("/.well-known/disclosure-gateway").json()
    return parse_verifier_key(document["checkpoint_verifier_key"]), document["checkpoint_origin"]


def ask(gateway: Harness, actor: Actor, query: str, **variables: Any) -> Any:
    response = gateway.post(actor, query, variables=variables)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def refusal(gateway: Harness, actor: Actor, query: str, **variables: Any) -> tuple[int, str, str]:
    response = gateway.post(actor, query, variables=variables)
    body = response.json()
    assert "data" not in body
    assert set(body["extensions"]["audit"]) == {"request_id", "index", "leaf_hash"}  # refusals are audited too
    return response.status_code, body["errors"][0]["extensions"]["code"], body["errors"][0]["message"]


def checkpoint_of(gateway: Harness, note: str) -> Checkpoint:
    verifier, origin = discovery_verifier(gateway)
    return verify_checkpoint(note, verifier, origin=origin)


@pytest.fixture
def auditor(gateway: Harness) -> Actor:
    return gateway.add(Role.AUDITOR, "oversight")


def fill(gateway: Harness, actor: Actor, count: int) -> list[dict[str, Any]]:
    """``count`` audited requests; return their extensions.audit receipts."""
    return [gateway.post(actor, WHOAMI).json()["extensions"]["audit"] for _ in range(count)]


def test_inclusion_proofs_verify_against_signed_checkpoints(gateway: Harness, auditor: Actor) -> None:
    receipts = fill(gateway, auditor, 21)
    for index, tree_size in [(0, 1), (0, 21), (5, 8), (7, 8), (12, 13), (20, 21), (3, None), (16, 17)]:
        # Without treeSize the proof is at the log's current size: every entry up to the one just before.
        expected_size = tree_size if tree_size is not None else fill(gateway, auditor, 1)[0]["index"] + 1
        proof = ask(gateway, auditor, PROOF, i=index, n=tree_size)["auditProof"]
        checkpoint = checkpoint_of(gateway, proof["checkpoint"])
        assert proof["index"] == index
        assert checkpoint.size == proof["treeSize"]
        assert proof["treeSize"] == expected_size
        assert proof["leafHash"] == receipts[index]["leaf_hash"]  # the very hash the client was given
        merkle.verify_inclusion(b64(proof["leafHash"]), index, proof["treeSize"], [b64(h) for h in proof["hashes"]],
                                checkpoint.root_hash)


def test_the_default_tree_size_is_the_log_as_it_is(gateway: Harness, auditor: Actor) -> None:
    fill(gateway, auditor, 4)
    proof = ask(gateway, auditor, PROOF, i=2)["auditProof"]
    # The request asking is not in the tree yet: its own entry is written after it is answered.
    assert proof["treeSize"] == 4


def test_consistency_proofs_verify_between_signed_checkpoints(gateway: Harness, auditor: Actor) -> None:
    fill(gateway, auditor, 19)
    for old, new in [(1, 19), (7, 8), (8, 16), (5, 13), (16, 19), (19, 19), (1, 1)]:
        old_checkpoint = checkpoint_of(gateway, ask(gateway, auditor, PROOF, i=0, n=old)["auditProof"]["checkpoint"])
        proof = ask(gateway, auditor, CONSISTENCY, a=old, b=new)["consistencyProof"]
        new_checkpoint = checkpoint_of(gateway, proof["checkpoint"])
        assert (proof["fromSize"], proof["toSize"], new_checkpoint.size, old_checkpoint.size) == (old, new, new, old)
        merkle.verify_consistency(old, new, [b64(h) for h in proof["hashes"]], old_checkpoint.root_hash,
                                  new_checkpoint.root_hash)


def test_a_stored_checkpoint_is_served_as_it_was_signed(gateway: Harness, auditor: Actor) -> None:
    # `gateway init` signed the empty tree, so there is a checkpoint before the first entry.
    assert checkpoint_of(gateway, ask(gateway, auditor, CHECKPOINT)["auditCheckpoint"]).size == 0
    fill(gateway, auditor, 5)
    stored = gateway.services.audit.checkpoint_now()
    assert stored is not None
    assert checkpoint_of(gateway, stored).size == 6  # the auditCheckpoint query and five fills
    assert ask(gateway, auditor, CHECKPOINT)["auditCheckpoint"] == stored
    assert gateway.client.get("/audit/checkpoint").text == stored
    assert ask(gateway, auditor, PROOF, i=3, n=6)["auditProof"]["checkpoint"] == stored


@pytest.mark.parametrize(("query", "variables", "message"), [
    (PROOF, {"i": 5}, "index 5 is not below the tree size 5"),
    (PROOF, {"i": 9, "n": 3}, "index 9 is not below the tree size 3"),
    (PROOF, {"i": -1}, "index must not be negative"),
    (PROOF, {"i": 0, "n": 0}, "treeSize must be at least 1"),
    (PROOF, {"i": 0, "n": -4}, "treeSize must be at least 1"),
    (PROOF, {"i": 0, "n": 6}, "treeSize 6 is past the current tree size 5"),
    (CONSISTENCY, {"a": 0, "b": 3}, "fromSize must be at least 1"),
    (CONSISTENCY, {"a": -2, "b": 3}, "fromSize must be at least 1"),
    (CONSISTENCY, {"a": 4, "b": 3}, "fromSize 4 is larger than toSize 3"),
    (CONSISTENCY, {"a": 2, "b": 9}, "toSize 9 is past the current tree size 5"),
])
def test_bad_sizes_and_indexes_are_refused_clearly(gateway: Harness, auditor: Actor, query: str,
                                                   variables: dict[str, Any], message: str) -> None:
    fill(gateway, auditor, 5)
    status, code, text = refusal(gateway, auditor, query, **variables)
    assert (status, code) == (400, "BAD_REQUEST")
    assert message in text


def test_a_proof_of_an_empty_log_is_refused(gateway: Harness, auditor: Actor) -> None:
    status, code, text = refusal(gateway, auditor, PROOF, i=0)
    assert (status, code) == (400, "BAD_REQUEST")
    assert "empty" in text


def test_an_authority_gets_proofs_of_its_own_entries_only(gateway: Harness, auditor: Actor) -> None:
    bka = gateway.add(Role.AUTHORITY, "bka-de")
    other = gateway.add(Role.AUTHORITY, "police-fr", country="FR")
    own = fill(gateway, bka, 2)  # 0, 1
    fill(gateway, other, 1)  # 2
    fill(gateway, auditor, 1)  # 3
    gateway.post(None, WHOAMI)  # 4: unauthenticated, no principal
    gateway.post(bka, WHOAMI, lifetime=301)  # 5: names bka-de but never verified as it
    for receipt in own:
        proof = ask(gateway, bka, PROOF, i=receipt["index"])["auditProof"]
        signed_root = checkpoint_of(gateway, proof["checkpoint"]).root_hash
        merkle.verify_inclusion(b64(proof["leafHash"]), receipt["index"], proof["treeSize"],
                                [b64(h) for h in proof["hashes"]], signed_root)
    for index in (2, 3, 4, 5):
        status, code, text = refusal(gateway, bka, PROOF, i=index)
        assert (status, code) == (403, "FORBIDDEN_ROLE")
        assert text == "an authority receives proofs of its own audit entries only"  # nothing about whose it is


def test_reviewers_get_consistency_proofs_but_no_inclusion_proofs(gateway: Harness) -> None:
    reviewer = gateway.add(Role.REVIEWER, "reviewer-a")
    fill(gateway, reviewer, 3)
    assert ask(gateway, reviewer, CONSISTENCY, a=1, b=3)["consistencyProof"]["toSize"] == 3
    assert refusal(gateway, reviewer, PROOF, i=0)[:2] == (403, "FORBIDDEN_ROLE")


def test_the_stored_tree_matches_the_transparency_dev_vectors(db: Database, vectors_dir: Path) -> None:
    heads = json.loads((vectors_dir / "merkle" / "tree_heads.json").read_text())
    leaves = [bytes.fromhex(h) for h in heads["leaf_hashes_hex"]]
    with db.engine.begin() as connection:
        # Appended in uneven groups, as group commit does: the stored nodes must not depend on batching.
        for start, end in [(0, 1), (1, 4), (4, 5), (5, 8)]:
            nodes = completed_nodes(DbTreeSource(connection), start, leaves[start:end])
            connection.execute(insert(AuditNode.__table__), nodes)  # type: ignore[attr-defined]
    memory = merkle.MemoryTree(leaves)
    with db.engine.connect() as connection:
        source = DbTreeSource(connection)
        for head in heads["roots"]:
            assert merkle.root(source, head["tree_size"]).hex() == head["root_hex"]
        for size in range(1, 9):
            for index in range(size):
                assert merkle.inclusion_proof(source, index, size) == merkle.inclusion_proof(memory, index, size)
            for old in range(1, size + 1):
                assert merkle.consistency_proof(source, old, size) == merkle.consistency_proof(memory, old, size)
        checked = 0
        for case_file in sorted((vectors_dir / "merkle" / "inclusion").rglob("*.json")):
            case = json.loads(case_file.read_text())
            if case.get("wantErr") or case["treeSize"] > 8 or not case.get("leafHash"):
                continue
            if b64(case["leafHash"]) != leaves[case["leafIdx"]]:
                continue  # a case over other leaves
            assert [base64.b64encode(h).decode() for h in
                    merkle.inclusion_proof(source, case["leafIdx"], case["treeSize"])] == (case["proof"] or [])
            checked += 1
    assert checked > 0
