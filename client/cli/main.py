"""The principals' `gateway` command: only the commands an authority or a reviewer runs on its own
machine (``python -m client``), and :func:`mount`, through which the server's `gateway` command
offers the same commands (:func:`mount_commands`, :func:`mount_groups`)."""

from __future__ import annotations

import typer

from client.cli import groups
from client.cli.common import EXIT_CODES, add_version_option
from client.cli.group import Group, lazy

__all__ = ["app", "mount_commands", "mount_groups", "run"]


def mount_commands(app: typer.Typer) -> None:
    """Add the principals' commands to ``app``, before the groups, as `gateway --help` lists them."""
    # Each module is imported only when the command line names its command (client/cli/group.py).
    app.add_typer(lazy("client.cli.keys", "keygen", help=groups.KEYGEN, group=False), name="keygen")
    app.add_typer(lazy("client.cli.query", "query", help=groups.QUERY, group=False), name="query")
    app.add_typer(lazy("client.cli.query", "open_", help=groups.OPEN, group=False), name="open")


def mount_groups(app: typer.Typer) -> None:
    """Add the principals' command groups to ``app``, after its own, as `gateway --help` lists them."""
    app.add_typer(lazy("client.cli.request", "app", help=groups.REQUEST), name="request")
    app.add_typer(lazy("client.cli.review", "app", help=groups.REVIEW), name="review")


app = typer.Typer(
    name="gateway",
    help="disclosure-gateway, the principals' commands: keys, legal requests, reviews and disclosures over HTTP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    epilog=EXIT_CODES,
    cls=Group,
)
add_version_option(app)
mount_commands(app)
mount_groups(app)


def run() -> None:
    # The program is called `gateway` whichever way it was started (`python -m client` included).
    app(prog_name="gateway")
