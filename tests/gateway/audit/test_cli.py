"""`gateway audit verify|proof|check-proof|show|checkpoint` through typer's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import update
from typer.testing import Result

from crypto.note import verifier_key_string
from gateway.audit.checkpoints import note_name
from gateway.audit.model import Decision
from gateway.audit.writer import AuditWriter
from gateway.cli import audit
from gateway.cli.common import console
from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.store.engine import Database
from gateway.store.tables import AuditEntry
from tests.support.audit import event
from tests.support.operator import operator_cli

cli = typer.Typer()
cli.add_typer(audit.app, name="audit")
_entries = AuditEntry.__table__  # type: ignore[attr-defined]


@pytest.fixture
def run(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Result]:
    """The CLI configured as an operator would: GATEWAY_ variables for the test's database."""
    return operator_cli(cli, settings, monkeypatch, workdir=tmp_path, prefix=["audit"])


@pytest.fixture
def filled(make_writer: Callable[..., AuditWriter]) -> list[Any]:
    writer = make_writer(every_entries=4)
    receipts = []
    for number in range(10):
        if number % 3 == 0:
            receipts.append(writer.append_sync(event(Decision.DISCLOSED, principal="bka-de", principal_verified=True,
                                                     order_id="ord_1", fields=["phoneNumber"], subjects=["sub_1"])))
        else:
            receipts.append(writer.append_sync(event(Decision.REFUSED)))
    writer.close()
    return receipts


def verifier_key(settings: Settings) -> str:
    key = load_gateway_keys(settings).signing_key.verify_key
    return verifier_key_string(note_name(settings.origin), bytes(key))


@pytest.mark.usefixtures("filled")
def test_verify_passes_on_a_sound_log(run: Callable[..., Result]) -> None:
    result = run("verify")
    assert result.exit_code == 0, result.output
    assert "audit log verifies: 10 entries" in result.stdout


@pytest.mark.usefixtures("filled")
def test_verify_fails_naming_the_first_bad_entry(run: Callable[..., Result], db: Database) -> None:
    with db.engine.begin() as connection:
        connection.execute(update(_entries).where(_entries.c.idx == 6).values(leaf_hash=bytes(32)))
    result = run("verify")
    assert result.exit_code == 1
    assert "entry 6" in result.output
    assert "does NOT verify" in result.output


@pytest.mark.usefixtures("filled")
def test_verify_says_the_origin_changed_when_gateway_id_changed(run: Callable[..., Result],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ID", "renamed.example")
    result = run("verify")
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "origin is 'gateway.test/audit' but this gateway's origin is 'renamed.example/audit'" in message
    assert "GATEWAY_ID='gateway.test'" in message
    assert "does not verify with the gateway's key" not in message


@pytest.mark.usefixtures("filled")
def test_verify_with_an_outside_key_and_checkpoint(run: Callable[..., Result], settings: Settings,
                                                   tmp_path: Path) -> None:
    note = run("checkpoint").stdout
    (tmp_path / "kept.note").write_text(note)
    result = run("verify", "--verifier-key", verifier_key(settings), "--checkpoint", str(tmp_path / "kept.note"))
    assert result.exit_code == 0, result.output
    assert "1 outside checkpoint\n" in result.stdout


@pytest.mark.usefixtures("filled")
def test_a_saved_proof_checks_offline(run: Callable[..., Result], settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "proof.json"
    assert run("proof", "6", "--tree-size", "9", "--out", str(out)).exit_code == 0
    saved = json.loads(out.read_text())
    assert set(saved) == {"index", "tree_size", "leaf_hash", "hashes", "checkpoint", "entry"}
    assert (saved["index"], saved["tree_size"], json.loads(saved["entry"])["index"]) == (6, 9, 6)
    key = verifier_key(settings)
    result = run("check-proof", str(out), "--verifier-key", key)
    assert result.exit_code == 0, result.output
    assert "proof holds: entry 6" in result.stdout

    for name, change in [("entry", lambda s: s | {"entry": s["entry"].replace("bka-de", "bka-fr")}),
                         ("hash", lambda s: s | {"hashes": [*s["hashes"][:-1], s["hashes"][0]]}),
                         ("index", lambda s: s | {"index": 5}),
                         ("size", lambda s: s | {"tree_size": 10}),
                         ("note", lambda s: s | {"checkpoint": s["checkpoint"].replace("\n9\n", "\n8\n")})]:
        bad = tmp_path / f"{name}.json"
        bad.write_text(json.dumps(change(saved)))
        result = run("check-proof", str(bad), "--verifier-key", key)
        assert result.exit_code == 1, (name, result.output)
        assert "proof does NOT hold" in result.output


@pytest.mark.usefixtures("filled")
def test_proof_refuses_what_is_not_in_the_log(run: Callable[..., Result]) -> None:
    result = run("proof", "10")
    assert result.exit_code == 2
    assert "index 10 is not below the tree size 10" in result.output
    assert run("proof", "3", "--tree-size", "11").exit_code == 2


def test_show_filters_entries(run: Callable[..., Result], filled: list[Any]) -> None:
    result = run("show", "--decision", "disclosed", "--json")
    assert result.exit_code == 0, result.output
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["index"] for e in shown] == [0, 3, 6, 9]
    assert [json.loads(line)["index"] for line in run("show", "--principal", "bka-de", "--limit", "2", "--json",
                                                      "--newest-first").stdout.splitlines()] == [9, 6]
    assert run("show", "--order", "ord_1", "--json").stdout.count("\n") == 4
    assert run("show", "--until", "2000-01-01T00:00:00Z", "--json").stdout == ""
    assert run("show", "--since", "2000-01-01T00:00:00Z", "--json").stdout.count("\n") == 10
    table = run("show")
    assert table.exit_code == 0
    assert "10 entries shown" in table.stdout
    assert run("show", "--since", "yesterday").exit_code == 2


@pytest.mark.usefixtures("filled")
@pytest.mark.parametrize("width", [80, 200])
def test_show_keeps_ids_codes_and_times_whole_at_any_width(run: Callable[..., Result], width: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", width)
    entries = [json.loads(line) for line in run("show", "--json").stdout.splitlines()]
    lines = run("show").stdout.splitlines()
    wanted = [str(e[key]) for e in entries for key in ("time", "request_id", "decision", "code", "order_id")
              if e.get(key)]
    assert len(wanted) > 30
    assert [value for value in wanted if not any(value in line for line in lines)] == []
    assert all(len(line) <= width for line in lines)
    assert ("\nrequest: req_" in "\n".join(lines)) == (width == 80)  # records when the table does not fit


def test_show_says_1_entry(run: Callable[..., Result], make_writer: Callable[..., AuditWriter]) -> None:
    writer = make_writer(every_entries=4)
    writer.append_sync(event(Decision.REFUSED))
    writer.close()
    assert "1 entry shown" in run("show").stdout


@pytest.mark.usefixtures("filled")
def test_checkpoint_signs_the_log_as_it_is(run: Callable[..., Result]) -> None:
    result = run("checkpoint")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "10"


@pytest.mark.usefixtures("filled")
def test_verify_json_is_one_object_with_what_verified(run: Callable[..., Result], settings: Settings,
                                                      tmp_path: Path) -> None:
    (tmp_path / "kept.note").write_text(run("checkpoint").stdout)
    result = run("verify", "--json", "--checkpoint", str(tmp_path / "kept.note"))
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert set(found) == {"verified", "entries", "root_hash", "checkpoints", "outside_checkpoints"}
    assert found["verified"] is True and found["entries"] == 10 and found["outside_checkpoints"] == 1
    assert found["root_hash"] == json.loads(run("checkpoint", "--json").stdout)["root_hash"]


@pytest.mark.usefixtures("filled")
def test_verify_json_says_where_it_does_not_verify(run: Callable[..., Result], db: Database) -> None:
    with db.engine.begin() as connection:
        connection.execute(update(_entries).where(_entries.c.idx == 6).values(leaf_hash=bytes(32)))
    result = run("verify", "--json")
    assert result.exit_code == 1
    found = json.loads(result.stdout)
    assert set(found) == {"verified", "where", "reason"}
    assert found["verified"] is False and "entry 6" in found["where"]


@pytest.mark.usefixtures("filled")
def test_checkpoint_json_is_the_note_and_its_fields(run: Callable[..., Result], settings: Settings) -> None:
    result = run("checkpoint", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert set(found) == {"checkpoint", "origin", "tree_size", "root_hash"}
    assert found["tree_size"] == 10 and found["origin"] == settings.origin
    assert found["checkpoint"].splitlines()[:3] == [settings.origin, "10", found["root_hash"]]
    assert run("checkpoint").stdout == found["checkpoint"]  # the plain output is the same note, unchanged
