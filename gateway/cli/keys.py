"""`gateway keygen`: a principal's key pair, generated locally; private keys never reach the gateway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from crypto.keys import KeyFormat, generate_sealing_key, generate_signing_key, public_key_info, write_key_file
from gateway.cli.common import console, fail, handle_errors

__all__ = ["keygen"]


@handle_errors
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
    sign_path = Path(f"{out}.sign.key")
    seal_path = Path(f"{out}.seal.key")
    for path in (sign_path, seal_path):
        if path.exists():
            fail(f"{path} exists already; choose another --out prefix or move the old key away")
    sign_path.parent.mkdir(parents=True, exist_ok=True)
    signing, sealing = generate_signing_key(), generate_sealing_key()
    write_key_file(sign_path, "ed25519-signing", bytes(signing), key_format=chosen)
    write_key_file(seal_path, "x25519-sealing", bytes(sealing), key_format=chosen)
    sign_info, seal_info = public_key_info(signing), public_key_info(sealing)
    console.print_json(json.dumps({
        "signing_key": sign_info.public_key, "signing_kid": sign_info.kid,
        "sealing_key": seal_info.public_key, "sealing_kid": seal_info.kid,
        "files": [str(sign_path), str(seal_path)], "format": key_format,
    }))
