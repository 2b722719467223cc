"""`gateway witness init|serve`: a minimal C2SP witness that a second party runs with this package.

It needs no gateway configuration and no database: a state directory (its key, its name and the
last checkpoint it cosigned per log) and the verifier keys of the logs it witnesses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from client.cli.group import Group
from gateway.cli import groups
from gateway.cli.common import console, handle_errors

__all__ = ["app"]

app = typer.Typer(help=groups.WITNESS, cls=Group, no_args_is_help=True)

_STATE = typer.Option(help="the witness's state directory (its key and what it cosigned)")


@app.command("init")
@handle_errors
def init(
    state: Annotated[Path, _STATE],
    name: Annotated[str, typer.Option(help="the witness's name, a schema-less URL such as witness.example/w1")],
) -> None:
    """Create the witness's key (unless it exists) and print its cosigner verifier key, which the
    gateway's operator puts in GATEWAY_WITNESSES."""
    from gateway.witness.service import init_witness

    console.print(init_witness(state, name))


@app.command("serve")
@handle_errors
def serve(
    state: Annotated[Path, _STATE],
    log: Annotated[list[str], typer.Option(help="the checkpoint_verifier_key of a log to witness (from its "
                                                "/.well-known/disclosure-gateway); repeatable")],
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8780,
) -> None:
    """Serve POST /add-checkpoint and GET /<origin hash>/checkpoint (c2sp.org/tlog-witness)."""
    import uvicorn  # the server: imported by the command that serves, never by a help

    from gateway.witness.app import create_witness_app
    from gateway.witness.service import Witness

    witness = Witness.load(state, log)
    console.print(f"witness {witness.vkey} for {', '.join(sorted(witness.logs))}")
    uvicorn.run(create_witness_app(witness), host=host, port=port, workers=1, server_header=False,
                proxy_headers=False, log_level="info")
