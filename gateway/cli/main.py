"""The `gateway` command (PROTOCOL.md §9)."""

from __future__ import annotations

import importlib

import typer

from gateway.cli import admin, keys, schema, serve

__all__ = ["app", "run"]

app = typer.Typer(
    name="gateway",
    help="disclosure-gateway: scoped, reviewer-signed disclosures with a verifiable audit log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init")(admin.init)
app.command("keygen")(keys.keygen)
app.command("serve")(serve.serve)
app.command("schema")(schema.schema)
app.add_typer(admin.principals_app, name="principals")

# Command groups that live in their own modules; each exposes a Typer `app`.
for _module, _name in (("gateway.cli.subjects", "subjects"), ("gateway.cli.demo", "demo")):
    try:
        app.add_typer(importlib.import_module(_module).app, name=_name)
    except ModuleNotFoundError as exc:  # pragma: no cover - while a group is being written
        if exc.name != _module:
            raise


def run() -> None:
    app()
