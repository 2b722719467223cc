"""`gateway schema`: print (or write) the GraphQL schema generated from the code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import console, fail

__all__ = ["schema"]


def schema(
    write: Annotated[Path | None, typer.Option(help="write it to this file (e.g. schema.graphql)")] = None,
    check: Annotated[Path | None, typer.Option(help="exit 1 if this file differs from the code")] = None,
) -> None:
    """The GraphQL schema as SDL, generated from the code."""
    from gateway.api.graphql.schema import schema_sdl  # the whole API: imported to run, not for --help

    sdl = schema_sdl()
    if check is not None:
        if not check.exists() or check.read_text(encoding="utf-8") != sdl:
            fail(f"{check} is out of date; run `gateway schema --write {check}`", code=1)
        console.print(f"{check} matches the code")
        return
    if write is not None:
        write.write_text(sdl, encoding="utf-8")
        console.print(f"wrote {write}")
        return
    typer.echo(sdl, nl=False)
