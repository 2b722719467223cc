"""The `gateway` command (docs/PROTOCOL.md §9)."""

from __future__ import annotations

import typer

from client.cli.common import EXIT_CODES, add_version_option
from client.cli.main import mount as mount_client_commands
from gateway.cli import (
    admin,
    audit,
    demo,
    keyadmin,
    lifecycle,
    monitor,
    schema,
    serve,
    sources,
    subjects,
    transparency,
    witness,
)

__all__ = ["app", "run"]

app = typer.Typer(
    name="gateway",
    help="disclosure-gateway: scoped, reviewer-signed disclosures with a verifiable audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    epilog=EXIT_CODES,
)
add_version_option(app)
# Operator, on the gateway host with direct database access.
app.command("init")(admin.init)
app.command("serve")(serve.serve)
app.command("schema")(schema.schema)
app.add_typer(admin.principals_app, name="principals")
app.add_typer(subjects.app, name="subjects")
app.add_typer(sources.app, name="sources")
app.add_typer(audit.app, name="audit")
app.add_typer(keyadmin.app, name="keys")
app.add_typer(demo.app, name="demo")
app.add_typer(transparency.app, name="transparency")
# Outsiders: a monitor of the log, and a witness that cosigns it.
audit.app.command("monitor")(monitor.monitor)
app.add_typer(witness.app, name="witness")
app.add_typer(lifecycle.retention_app, name="retention")
app.add_typer(lifecycle.notices_app, name="notices")
# Principals, against a gateway over HTTP with signed tokens: the client's commands (client/).
mount_client_commands(app)


def run() -> None:
    app()
