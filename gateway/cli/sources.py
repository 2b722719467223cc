"""`gateway sources check`: run every statement of the subject source's mapping once, read-only, and
check its columns, as the gateway does at start (docs/PROTOCOL.md §9.2)."""

from __future__ import annotations

import typer
from rich.markup import escape

from gateway.cli.common import console, handle_errors, settings
from gateway.errors import OperatorError
from gateway.subjects.mapping import PURPOSES
from gateway.subjects.sql_source import SqlSource

__all__ = ["app"]

app = typer.Typer(help="Check the subject source the gateway reads subjects from.", no_args_is_help=True)


@app.command("check")
@handle_errors
def check() -> None:
    """Check the configured subject source: every mapping statement prepared, executed read-only with
    parameters no row matches, and its columns held to its purpose. Exit 2 with one line if any is wrong."""
    config = settings()
    if config.subject_source == "embedded":
        console.print("subject source: embedded (the gateway's encrypted store); nothing to check")
        return
    if config.subject_source_url is None or config.subject_source_mapping is None:  # the settings refuse it
        raise OperatorError("GATEWAY_SUBJECT_SOURCE=sql needs GATEWAY_SUBJECT_SOURCE_URL and "
                            "GATEWAY_SUBJECT_SOURCE_MAPPING")
    source = SqlSource.open(config.subject_source_url.get_secret_value(), config.subject_source_mapping,
                            timeout_s=config.subject_source_timeout_s)
    try:
        source.check()
    finally:
        source.dispose()
    console.print(escape(f"subject source: sql, {len(PURPOSES)} statements checked "
                         f"({', '.join(PURPOSES)}) from {config.subject_source_mapping}"))
