"""The `gateway` command (docs/PROTOCOL.md §9)."""

from __future__ import annotations

import typer

from client.cli.common import EXIT_CODES, add_version_option
from client.cli.group import Group, lazy
from client.cli.main import mount_commands, mount_groups
from gateway.cli import groups

__all__ = ["app", "run"]

app = typer.Typer(
    name="gateway",
    help="disclosure-gateway: scoped, reviewer-signed disclosures with a verifiable audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    epilog=EXIT_CODES,
    cls=Group,
)
add_version_option(app)
# Each module is imported only when the command line names its command (client/cli/group.py).
# Operator, on the gateway host with direct database access.
app.add_typer(lazy("gateway.cli.admin", "init", help=groups.INIT, group=False), name="init")
app.add_typer(lazy("gateway.cli.serve", "serve", help=groups.SERVE, group=False), name="serve")
app.add_typer(lazy("gateway.cli.schema", "schema", help=groups.SCHEMA, group=False), name="schema")
# Principals, against a gateway over HTTP with signed tokens: the client's commands (client/).
mount_commands(app)
app.add_typer(lazy("gateway.cli.admin", "principals_app", help=groups.PRINCIPALS), name="principals")
app.add_typer(lazy("gateway.cli.subjects", "app", help=groups.SUBJECTS), name="subjects")
app.add_typer(lazy("gateway.cli.sources", "app", help=groups.SOURCES), name="sources")
app.add_typer(lazy("gateway.cli.audit", "app", help=groups.AUDIT), name="audit")
app.add_typer(lazy("gateway.cli.keyadmin", "app", help=groups.KEYS), name="keys")
app.add_typer(lazy("gateway.cli.demo", "app", help=groups.DEMO), name="demo")
app.add_typer(lazy("gateway.cli.transparency", "app", help=groups.TRANSPARENCY), name="transparency")
# Outsiders: a witness that cosigns the log (and `audit monitor`, in the audit group).
app.add_typer(lazy("gateway.cli.witness", "app", help=groups.WITNESS), name="witness")
app.add_typer(lazy("gateway.cli.lifecycle", "retention_app", help=groups.RETENTION), name="retention")
app.add_typer(lazy("gateway.cli.lifecycle", "notices_app", help=groups.NOTICES), name="notices")
# The principals' groups (client/).
mount_groups(app)


def run() -> None:
    app()
