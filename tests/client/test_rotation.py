"""The client's side of an authority's own keys (docs/PROTOCOL.md §17.5): its operations are the
schema's, its statements are what the gateway accepts, and `gateway keys rotate-principal` checks
what it can before it writes or sends anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from graphql import build_schema, parse, validate
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from typer.testing import CliRunner, Result

from client import rotation
from client.cli.keys import rotate_principal
from client.http import GatewayClient
from client.keyfiles import write_key_pair
from crypto.keys import generate_signing_key, key_id, write_key_file
from tests.support.live import free_port
from tests.support.world import World

SCHEMA = build_schema((Path(__file__).resolve().parents[2] / "schema.graphql").read_text(encoding="utf-8"))

cli = typer.Typer()
cli.command("rotate-principal")(rotate_principal)
cli.command("unused")(lambda: None)  # a group of two, so the command is named on the command line


@pytest.fixture
def run() -> Callable[..., Result]:
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args))


@pytest.mark.parametrize("name", ["ROTATE_SIGNING_KEY", "ROTATE_SEALING_KEY", "WHOAMI_KEYS"])
def test_the_rotation_operations_validate_against_the_schema_file(name: str) -> None:
    assert validate(SCHEMA, parse(getattr(rotation, name))) == []


def test_the_client_rotates_both_keys_through_the_gateway(world: World) -> None:
    authority = world.authority
    assert authority.sealing_key is not None
    http = world.gateway.client
    with GatewayClient("http://testserver", authority.id, authority.signing_key, http_client=http) as client:
        before = rotation.whoami_keys(client)
        new = SigningKey.generate()
        answer = rotation.rotate_signing_key(client, current=authority.signing_key, new=new, clock=time.time)
    assert before == rotation.KeyState(key_id(authority.signing_key.verify_key), None,
                                       key_id(authority.sealing_key.public_key))
    assert (answer["oldKid"], answer["newKid"]) == (before.kid, key_id(new.verify_key))
    sealing = PrivateKey.generate()
    with GatewayClient("http://testserver", authority.id, new, http_client=http) as client:
        rotated = rotation.rotate_sealing_key(client, signer=new, old_sealing_kid=before.sealing_kid, new=sealing,
                                              clock=time.time)
        after = rotation.whoami_keys(client)
    assert rotated == {"oldSealingKid": before.sealing_kid, "newSealingKid": key_id(sealing.public_key)}
    assert after == rotation.KeyState(key_id(new.verify_key), None, key_id(sealing.public_key))


def test_rotate_principal_refuses_an_existing_new_prefix_before_sending(run: Callable[..., Result],
                                                                        tmp_path: Path) -> None:
    write_key_pair(tmp_path / "me")
    write_key_file(tmp_path / "next.sign.key", "ed25519-signing", bytes(generate_signing_key()))
    result = run("rotate-principal", "--id", "bka-de", "--key", str(tmp_path / "me"), "--out",
                 str(tmp_path / "next"), "--url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 2, result.output
    assert "exists already" in result.output
    assert not (tmp_path / "next.seal.key").exists()


def test_rotate_principal_needs_a_sealing_key_to_carry_over(run: Callable[..., Result], tmp_path: Path) -> None:
    write_key_file(tmp_path / "me.sign.key", "ed25519-signing", bytes(generate_signing_key()))
    result = run("rotate-principal", "--id", "bka-de", "--key", str(tmp_path / "me"), "--out",
                 str(tmp_path / "next"), "--url", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 2, result.output
    assert "--sealing" in result.output
    assert not (tmp_path / "next.sign.key").exists()
