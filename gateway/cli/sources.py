"""`gateway sources check`: run every statement of the subject source's mapping once, read-only, and
check its columns, as the gateway does at start (docs/PROTOCOL.md §9.2)."""

from __future__ import annotations

import typer
from rich.markup import escape

from client.cli.group import Group
from gateway.cli import groups
from gateway.cli.common import console, handle_errors, settings

__all__ = ["app"]

app = typer.Typer(help=groups.SOURCES, cls=Group, no_args_is_help=True)


@app.command("check")
@handle_errors
def check() -> None:
    """Check the configured subject source: every mapping statement prepared, executed read-only with
    parameters no row matches, and its columns held to its purpose. Exit 2 with one line if any is wrong."""
    # Imported here: every `gateway … --help` imports this module, and the server must not load for it.
    from gateway.services import sql_source
    from gateway.subjects.mapping import PURPOSES

    config = settings()
    source = sql_source(config)  # checks every statement; OperatorError (one line) if one is wrong
    if source is None:
        console.print("subject source: embedded (the gateway's encrypted store); nothing to check")
        return
    source.dispose()
    console.print(escape(f"subject source: sql, {len(PURPOSES)} statements checked "
                         f"({', '.join(PURPOSES)}) from {config.subject_source_mapping}"))
