"""The `gateway` command as the tests run it: gateway.cli.main's app, plus the client commands
(`request`, `review`, `query`, `open`) for as long as main does not register them itself.

Run as ``python -m tests.support.cli ARGS…`` for a subprocess, or use :func:`gateway_app` with
typer's CliRunner. Once main registers the commands, this adds nothing.
"""

from __future__ import annotations

import typer

from gateway.cli import query, request, review
from gateway.cli.main import app


def gateway_app() -> typer.Typer:
    groups = {group.name for group in app.registered_groups}
    commands = {command.name for command in app.registered_commands}
    for module, name in ((request, "request"), (review, "review")):
        if name not in groups:
            app.add_typer(module.app, name=name)
    if "query" not in commands:
        app.command("query")(query.query)
    if "open" not in commands:
        app.command("open")(query.open_)
    return app


if __name__ == "__main__":
    gateway_app()()
