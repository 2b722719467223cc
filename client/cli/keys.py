"""`gateway keygen`: a principal's key pair, generated locally; private keys never reach the gateway.
And the public halves of key files that exist (`gateway keys public PREFIX`), with the line that
registers them: the operator needs only those, never the files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from client.cli.common import client_command, err_console, fail, print_json
from client.keyfiles import key_paths, sealing_key_for, signing_key_for, write_key_pair
from crypto.keys import KeyFormat, public_key_info

__all__ = ["keygen", "print_public_halves", "public", "public_halves", "registration_line"]


def public_halves(signing: SigningKey, sealing: PrivateKey | None, files: list[Path]) -> dict[str, object]:
    """What keygen prints: the public keys, their kids and the files (no sealing key: ``None``)."""
    sign_info = public_key_info(signing)
    seal_info = public_key_info(sealing) if sealing is not None else None
    return {"signing_key": sign_info.public_key, "signing_kid": sign_info.kid,
            "sealing_key": seal_info.public_key if seal_info else None,
            "sealing_kid": seal_info.kid if seal_info else None, "files": [str(path) for path in files]}


def registration_line(halves: dict[str, object]) -> str:
    """The `gateway principals add` line for these keys, ready to copy but for the principal's own
    id, name and (an authority's) country; the operator runs it on the gateway host."""
    if halves["sealing_key"] is None:
        return (f"gateway principals add --role reviewer --id ID --name 'NAME' "
                f"--signing-key {halves['signing_key']}")
    return (f"gateway principals add --role authority --id ID --name 'NAME' --country CC "
            f"--signing-key {halves['signing_key']} --sealing-key {halves['sealing_key']}")


def print_public_halves(halves: dict[str, object]) -> None:
    """The JSON on stdout (for scripts, unchanged), the registration line on stderr (for people)."""
    print_json(halves)
    err_console.print("to register these keys, the gateway's operator runs (an authority, with its sealing "
                      "key; a reviewer or an auditor: --role reviewer or auditor, and without --country and "
                      "--sealing-key):", markup=False, style="dim")
    err_console.print(f"  {registration_line(halves)}", markup=False)


@client_command
def keygen(
    out: Annotated[Path, typer.Option("--out", help="PREFIX: writes PREFIX.sign.key and PREFIX.seal.key")],
    key_format: Annotated[str, typer.Option(
        "--format", help="gateway (the gateway's own JSON), jwk (RFC 8037 OKP JWK) or pem (PKCS#8, RFC 8410); "
                         "--key reads all three")] = "gateway",
) -> None:
    """Write PREFIX.sign.key (Ed25519) and PREFIX.seal.key (X25519), owner-only, and print the public
    halves and their kids as JSON."""
    if key_format not in ("gateway", "jwk", "pem"):
        fail("--format must be gateway, jwk or pem")
    chosen: KeyFormat = key_format  # type: ignore[assignment]
    sign_path, seal_path = key_paths(out)
    for path in (sign_path, seal_path):
        if path.exists():
            fail(f"{path} exists already; choose another --out prefix or move the old key away")
    signing, sealing = write_key_pair(out, key_format=chosen)
    print_public_halves(public_halves(signing, sealing, [sign_path, seal_path]) | {"format": key_format})


@client_command
def public(
    prefix: Annotated[Path, typer.Argument(metavar="PREFIX", help="the --out PREFIX given to `gateway keygen`",
                                           show_default=False)],
) -> None:
    """Print the public halves and kids of PREFIX.sign.key (and PREFIX.seal.key, if there is one) as
    keygen does, and the `gateway principals add` line that registers them."""
    sign_path, seal_path = key_paths(prefix)
    signing = signing_key_for(prefix)
    sealing = sealing_key_for(prefix) if seal_path.exists() else None
    print_public_halves(public_halves(signing, sealing, [sign_path, *([seal_path] if sealing else [])]))
