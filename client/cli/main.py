"""The principals' `gateway` command: only the commands an authority or a reviewer runs on its own
machine (``python -m client``), and :func:`mount`, through which the server's `gateway` command
offers the same commands."""

from __future__ import annotations

import typer

from client.cli import keys, query, request, review
from client.cli.common import EXIT_CODES, add_version_option

__all__ = ["app", "mount", "run"]


def mount(app: typer.Typer) -> None:
    """Add the principals' commands to ``app``, in the order `gateway --help` lists them."""
    app.command("keygen")(keys.keygen)
    app.add_typer(request.app, name="request")
    app.add_typer(review.app, name="review")
    app.command("query")(query.query)
    app.command("open")(query.open_)


app = typer.Typer(
    name="gateway",
    help="disclosure-gateway, the principals' commands: keys, legal requests, reviews and disclosures over HTTP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    epilog=EXIT_CODES,
)
add_version_option(app)
mount(app)


def run() -> None:
    # The program is called `gateway` whichever way it was started (`python -m client` included).
    app(prog_name="gateway")
