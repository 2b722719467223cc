"""`gateway keygen`: a principal's key pair, generated locally; private keys never reach the gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from client.cli.common import client_command, fail, print_json
from client.keyfiles import key_paths, write_key_pair
from crypto.keys import KeyFormat, public_key_info

__all__ = ["keygen"]


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
    sign_info, seal_info = public_key_info(signing), public_key_info(sealing)
    print_json({
        "signing_key": sign_info.public_key, "signing_kid": sign_info.kid,
        "sealing_key": seal_info.public_key, "sealing_kid": seal_info.kid,
        "files": [str(sign_path), str(seal_path)], "format": key_format,
    })
