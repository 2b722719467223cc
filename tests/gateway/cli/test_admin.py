"""The operator commands (docs/PROTOCOL.md §9): init, keygen, principals, serve's start-up refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from client.keyfiles import sealing_key_for, signing_key_for
from crypto.keys import public_key_info
from gateway.cli.common import console
from gateway.cli.main import app


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def test_init_creates_owner_only_keys_and_twice_changes_nothing(run, tmp_path: Path) -> None:
    first = run("init")
    assert first.exit_code == 0, first.output
    keys = sorted((tmp_path / "var" / "keys").iterdir())
    assert [k.name for k in keys] == ["at-rest.key", "blind-index.key", "checkpoint.sign.key"]
    assert all(k.stat().st_mode & 0o777 == 0o600 for k in keys)
    before = {k.name: k.read_bytes() for k in keys}
    second = run("init")
    assert second.exit_code == 0 and "nothing changed" in second.output
    assert {k.name: k.read_bytes() for k in keys} == before


def test_keygen_writes_owner_only_files_and_prints_public_halves(run, tmp_path: Path) -> None:
    result = run("keygen", "--out", "keys/bka")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert len(printed["signing_kid"]) == 16 and len(printed["sealing_kid"]) == 16
    for name in ("bka.sign.key", "bka.seal.key"):
        assert (tmp_path / "keys" / name).stat().st_mode & 0o777 == 0o600
    again = run("keygen", "--out", "keys/bka")
    assert again.exit_code == 2 and "exists already" in again.output


@pytest.mark.parametrize("key_format", ["jwk", "pem"])
def test_keygen_in_a_standard_format_and_key_reads_it(run, tmp_path: Path, key_format: str) -> None:
    result = run("keygen", "--out", "keys/std", "--format", key_format)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    text = (tmp_path / "keys" / "std.sign.key").read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----") if key_format == "pem" else '"kty": "OKP"' in text
    assert public_key_info(signing_key_for(tmp_path / "keys" / "std")).kid == printed["signing_kid"]
    assert public_key_info(sealing_key_for(tmp_path / "keys" / "std")).kid == printed["sealing_kid"]


def register(run, role: str, principal_id: str, *extra: str, key_prefix: str | None = None) -> object:
    keys = json.loads(run("keygen", "--out", f"keys/{key_prefix or principal_id}").stdout)
    args = ["principals", "add", "--role", role, "--id", principal_id, "--name", principal_id.upper(),
            "--signing-key", keys["signing_key"], *extra]
    if role == "authority":
        args += ["--sealing-key", keys["sealing_key"]]
    return run(*args)


def test_principals_add_list_suspend(run) -> None:
    assert run("init").exit_code == 0
    added = register(run, "authority", "bka-de", "--country", "DE")
    assert added.exit_code == 0, added.output
    assert register(run, "reviewer", "legal-anna").exit_code == 0
    listed = json.loads(run("principals", "list", "--json").output)
    assert [(p["id"], p["role"], p["status"]) for p in listed] == [("bka-de", "authority", "active"),
                                                                  ("legal-anna", "reviewer", "active")]
    assert run("principals", "suspend", "bka-de").exit_code == 0
    assert json.loads(run("principals", "list", "--json").output)[0]["status"] == "suspended"
    assert run("principals", "reinstate", "bka-de").exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (("--role", "reviewer", "--id", "x", "--name", "X", "--signing-key", "not-base64!"), "signing key"),
    (("--role", "authority", "--id", "Bad Id", "--name", "X", "--signing-key", "A" * 43 + "="), "principal id"),
    (("--role", "reviewer", "--id", "rev", "--name", "R", "--signing-key", "AAAA"), "signing key"),
])
def test_bad_principal_arguments_exit_2_with_a_message(run, args: tuple[str, ...], message: str) -> None:
    assert run("init").exit_code == 0
    result = run("principals", "add", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_authority_needs_country_and_sealing_key(run) -> None:
    assert run("init").exit_code == 0
    no_country = register(run, "authority", "bka-de")
    assert no_country.exit_code == 2 and "--country" in no_country.output
    keys = json.loads(run("keygen", "--out", "keys/other").stdout)
    no_seal = run("principals", "add", "--role", "authority", "--id", "p", "--name", "P", "--country", "FR",
                  "--signing-key", keys["signing_key"])
    assert no_seal.exit_code == 2 and "--sealing-key" in no_seal.output


def test_duplicate_principal_is_refused(run) -> None:
    assert run("init").exit_code == 0
    assert register(run, "reviewer", "rev").exit_code == 0
    again = register(run, "reviewer", "rev", key_prefix="rev-2")
    assert again.exit_code == 2 and "exists already" in again.output


@pytest.mark.parametrize("width", [60, 80, 200])
def test_principals_list_keeps_ids_and_kids_whole(run, width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", width)
    assert run("init").exit_code == 0
    for principal_id in ("bundeskriminalamt-wiesbaden-de", "legal-reviewer-anna-long-name"):
        assert register(run, "reviewer", principal_id).exit_code == 0
    listed = json.loads(run("principals", "list", "--json").output)
    wanted = [p["id"] for p in listed] + [k["kid"] for p in listed for k in p["keys"]]
    lines = run("principals", "list").output.splitlines()
    assert [value for value in wanted if not any(value in line for line in lines)] == []
    assert "None" not in lines


def test_commands_before_init_say_to_run_init(run) -> None:
    result = run("principals", "list")
    assert result.exit_code == 2 and "gateway init" in result.output


def test_without_a_data_dir_the_message_names_the_absolute_path_and_the_variable(
        run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("init").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("GATEWAY_DATA_DIR")
    result = run("principals", "list")
    assert result.exit_code == 2
    message = " ".join(result.output.split())  # rich wraps long lines
    assert f"no database in {elsewhere / 'var'};" in message
    assert "set GATEWAY_DATA_DIR" in message
    assert not (elsewhere / "var").exists()  # following the message must not be what created a gateway


def test_serve_refuses_to_start_without_keys(run, tmp_path: Path) -> None:
    result = run("serve", "--port", "1")
    assert result.exit_code == 2 and "gateway init" in result.output


def test_serve_refuses_a_key_readable_by_others(run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    key = tmp_path / "var" / "keys" / "at-rest.key"
    os.chmod(key, 0o644)
    result = run("serve", "--port", "1")
    assert result.exit_code == 2
    assert "chmod 600" in result.output and "Traceback" not in result.output


def test_invalid_configuration_is_a_clear_error(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_APPROVALS_REQUIRED", "zero")
    result = run("init")
    assert result.exit_code == 2 and "GATEWAY_APPROVALS_REQUIRED" in result.output


def test_one_signing_key_is_refused_for_a_second_principal(run) -> None:
    # Issue 11, finding 3: whoever holds one key registered under two reviewer ids approves as both.
    assert run("init").exit_code == 0
    keys = json.loads(run("keygen", "--out", "keys/anna").stdout)
    first = run("principals", "add", "--role", "reviewer", "--id", "anna", "--name", "A",
                "--signing-key", keys["signing_key"])
    assert first.exit_code == 0, first.output
    twin = run("principals", "add", "--role", "reviewer", "--id", "anna-2", "--name", "A2",
               "--signing-key", keys["signing_key"])
    assert twin.exit_code == 2 and "registered to principal 'anna' already" in twin.output
    assert register(run, "reviewer", "bob").exit_code == 0
    rotated = run("principals", "add-key", "bob", "--signing-key", keys["signing_key"])
    assert rotated.exit_code == 2 and "registered to principal 'anna' already" in rotated.output
    listed = json.loads(run("principals", "list", "--json").output)
    assert [(p["id"], len(p["keys"])) for p in listed] == [("anna", 1), ("bob", 1)]


def _tree(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("key", ["at-rest.key", "checkpoint.sign.key", "blind-index.key"])
def test_init_over_an_initialised_database_with_a_key_missing_changes_nothing(run, tmp_path: Path,
                                                                              key: str) -> None:
    # Issue 11, finding 4: a replacement key over live data orphans every record it protected.
    assert run("init").exit_code == 0
    data = tmp_path / "var"
    (data / "keys" / key).unlink()
    before = _tree(data)
    again = run("init")
    assert again.exit_code == 2
    assert str(data / "keys" / key) in again.output.replace("\n", "")
    assert "restore it from backup" in again.output
    assert _tree(data) == before
    serving = run("serve", "--port", "1")
    assert serving.exit_code == 2 and "restore the missing files from backup" in serving.output


def test_init_creates_the_data_directory_and_database_owner_only(run, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "fresh" / "var"))
    previous = os.umask(0o022)  # a usual umask, which would leave both readable by everyone
    try:
        assert run("init").exit_code == 0
    finally:
        os.umask(previous)
    data = tmp_path / "fresh" / "var"
    assert data.stat().st_mode & 0o777 == 0o700
    assert (data / "gateway.db").stat().st_mode & 0o777 == 0o600
    assert run("init").exit_code == 0


def test_keygen_prints_the_line_that_registers_the_keys(run, tmp_path: Path) -> None:
    result = run("keygen", "--out", "keys/bka")
    printed = json.loads(result.stdout)  # stdout: the JSON alone, as before
    line = next(text.strip() for text in result.stderr.splitlines() if "gateway principals add" in text)
    assert line == (f"gateway principals add --role authority --id ID --name 'NAME' --country CC "
                    f"--signing-key {printed['signing_key']} --sealing-key {printed['sealing_key']}")
    # The line works as printed once the id, name and country are filled in.
    # Token by token: a key's base64 may itself hold "ID" or "CC".
    filled = {"ID": "bka-de", "'NAME'": "BKA", "CC": "DE"}
    parts = [filled.get(token, token) for token in line.split()[1:]]
    assert run("init").exit_code == 0
    added = run(*parts)
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["sealing_kid"] == printed["sealing_kid"]


def test_keys_public_prints_the_public_halves_of_existing_files(run, tmp_path: Path) -> None:
    made = json.loads(run("keygen", "--out", "keys/anna").stdout)
    shown = run("keys", "public", "keys/anna")
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.stdout)
    assert {k: found[k] for k in ("signing_key", "signing_kid", "sealing_key", "sealing_kid")} == \
        {k: made[k] for k in ("signing_key", "signing_kid", "sealing_key", "sealing_kid")}
    assert f"--sealing-key {made['sealing_key']}" in shown.stderr

    (tmp_path / "keys" / "anna.seal.key").unlink()  # a reviewer keeps only its signing key
    signing_only = run("keys", "public", "keys/anna")
    assert signing_only.exit_code == 0
    assert json.loads(signing_only.stdout)["sealing_key"] is None
    assert "--role reviewer" in signing_only.stderr and "--sealing-key" not in signing_only.stderr.splitlines()[-1]

    missing = run("keys", "public", "keys/nobody")
    assert missing.exit_code == 2 and "keys/nobody.sign.key does not exist" in missing.stderr


def test_principals_webhook_sets_and_removes_an_authoritys_url(run) -> None:
    assert run("init").exit_code == 0
    assert register(run, "authority", "bka-de", "--country", "DE").exit_code == 0
    assert register(run, "reviewer", "legal-anna").exit_code == 0
    set_ = run("principals", "webhook", "bka-de", "https://hooks.bka.example/gateway")
    assert set_.exit_code == 0 and "webhook of bka-de set" in set_.output
    again = run("principals", "webhook", "bka-de", "https://hooks.bka.example/gateway")
    assert again.exit_code == 2 and "already registered" in again.output
    plain = run("principals", "webhook", "bka-de", "http://hooks.bka.example/gateway")
    assert plain.exit_code == 2 and "https" in plain.output and "hooks.bka.example" not in plain.output
    reviewer = run("principals", "webhook", "legal-anna", "https://hooks.example/")
    assert reviewer.exit_code == 2 and "only an authority" in reviewer.output
    removed = run("principals", "webhook", "bka-de", "--remove")
    assert removed.exit_code == 0 and "removed" in removed.output
    assert run("principals", "webhook", "bka-de").exit_code == 2  # a URL or --remove
def test_revoke_key_revokes_records_and_names_what_it_did(run, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    assert register(run, "authority", "bka-de", "--country", "DE").exit_code == 0
    keys = json.loads(run("keys", "public", "keys/bka-de").stdout)
    first = run("principals", "revoke-key", "bka-de", keys["signing_kid"])
    assert first.exit_code == 0, first.output
    assert f"revoked signing key {keys['signing_kid']} of bka-de (audit entry " in first.output
    again = run("principals", "revoke-key", "bka-de", keys["signing_kid"])
    assert again.exit_code == 0 and "was revoked already; recorded it again" in again.output
    sealing = run("principals", "revoke-key", "bka-de", keys["sealing_kid"])
    assert sealing.exit_code == 0 and f"revoked sealing key {keys['sealing_kid']}" in sealing.output
    unknown = run("principals", "revoke-key", "bka-de", "0123456789abcdef")
    assert unknown.exit_code == 2 and "has no key 0123456789abcdef" in unknown.output
    [listed] = json.loads(run("principals", "list", "--json").output)
    assert [k["status"] for k in listed["keys"]] == ["revoked"] and listed["sealing_key"] is None
    audited = run("audit", "verify")
    assert audited.exit_code == 0, audited.output
