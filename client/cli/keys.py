"""`gateway keygen`: a principal's key pair, generated locally; private keys never reach the gateway.
And the public halves of key files that exist (`gateway keys public PREFIX`), with the line that
registers them: the operator needs only those, never the files. And `gateway keys rotate-principal`:
an authority replaces its own keys at the gateway, signed by its current key, with no operator step."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from client.cli.common import client_command, connect, err_console, fail, print_json
from client.cli.options import DEFAULT_URL, CaCertOption, IdOption, KeyOption, UrlOption
from client.keyfiles import key_paths, sealing_key_for, signing_key_for, write_key_pair
from client.rotation import rotate_sealing_key, rotate_signing_key, whoami_keys
from crypto.keys import KeyFormat, generate_sealing_key, generate_signing_key, public_key_info, write_key_file

__all__ = ["keygen", "print_public_halves", "public", "public_halves", "registration_line", "rotate_principal"]


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


@client_command
def rotate_principal(
    principal_id: IdOption,
    key: KeyOption,
    out: Annotated[Path, typer.Option("--out", metavar="NEWPREFIX", show_default=False,
                                      help="writes the new NEWPREFIX.sign.key (and NEWPREFIX.seal.key)")],
    sealing: Annotated[bool, typer.Option("--sealing", help="replace the sealing key too: every disclosure "
                                          "from then on is sealed to NEWPREFIX.seal.key")] = False,
    url: UrlOption = DEFAULT_URL,
    cacert: CaCertOption = None,
) -> None:
    """Replace your signing key (and, with --sealing, your sealing key) at the gateway: the new key
    is signed by the current one, no operator step. The old signing key keeps working for the
    gateway's overlap (key_overlap_hours in its discovery), then is refused. Keep PREFIX.seal.key:
    it still opens what was sealed to it before."""
    sign_path, seal_path = key_paths(out)
    for path in (sign_path, seal_path):
        if path.exists():
            fail(f"{path} exists already; choose another --out prefix")
    current = signing_key_for(key)
    old_sealing = sealing_key_for(key) if key_paths(key)[1].exists() else None
    if sealing is False and old_sealing is None:
        fail(f"{key_paths(key)[1]} does not exist: NEWPREFIX needs a sealing key; pass --sealing for a new one")
    # Written before anything is sent: a key the gateway accepted must never be lost.
    sign_path.parent.mkdir(parents=True, exist_ok=True)
    new = generate_signing_key()
    write_key_file(sign_path, "ed25519-signing", bytes(new))
    new_sealing = generate_sealing_key() if sealing else old_sealing
    assert new_sealing is not None
    write_key_file(seal_path, "x25519-sealing", bytes(new_sealing))
    result: dict[str, object] = {"files": [str(sign_path), str(seal_path)]}
    with connect(url, principal_id, key, cacert=cacert) as client:
        before = whoami_keys(client)
        result |= rotate_signing_key(client, current=current, new=new, clock=time.time)
    # Told at once: should the sealing key's change fail, the signing key has changed all the same.
    err_console.print(f"signing key {result['newKid']} registered; {result['oldKid']} works until "
                      f"{result['oldKeyUntil']}: use --key {out} from now on", markup=False, style="dim")
    if sealing:
        # The old key was replaced: only the new one may change the sealing key now.
        with connect(url, principal_id, out, cacert=cacert) as client:
            result |= rotate_sealing_key(client, signer=new, old_sealing_kid=before.sealing_kid, new=new_sealing,
                                         clock=time.time)
        err_console.print(f"sealing key {result['newSealingKid']} registered: every disclosure from now on is "
                          f"sealed to {seal_path}; keep {key_paths(key)[1]} to open what was sealed to it before",
                          markup=False, style="dim")
    print_json(result)
