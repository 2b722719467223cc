"""Operator commands with direct database access: `gateway init` and `gateway principals …`."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from client.cli.group import Group
from client.cli.tables import Col, print_table
from client.cli.words import plain
from gateway.cli import groups
from gateway.cli.common import console, handle_errors, open_database, running_services, settings

if TYPE_CHECKING:
    from gateway.principals.registry import PrincipalInfo, PrincipalRegistry, Role

__all__ = ["init", "principals_app"]

class RoleChoice(StrEnum):
    """The roles as options name them: the registry's ``Role`` (imported with the database,
    which a help must not pay for); tests/gateway/cli/test_start.py holds the two equal."""

    AUTHORITY = "authority"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"


def _role(choice: RoleChoice) -> Role:
    from gateway.principals.registry import Role

    return Role(choice.value)


principals_app = typer.Typer(help=groups.PRINCIPALS, cls=Group, no_args_is_help=True)


@handle_errors
def init() -> None:
    """Create the database schema and the gateway's keys (owner-only). Running it again changes nothing."""
    from gateway.maintenance.initialize import initialize

    config = settings()
    report = initialize(config)
    for path in report.keys_created:
        console.print(f"created key {path} (mode 600)")
    if report.schema_before != report.schema_after:
        console.print(f"database schema at revision {report.schema_after}")
    if report.checkpoint_signed is not None:
        console.print(f"signed the audit log's first checkpoint (tree size {report.checkpoint_signed})")
    if not report.changed:
        console.print(f"already initialised: {config.data_dir} (schema {report.schema_after}); nothing changed")
    else:
        console.print(f"gateway initialised in {config.data_dir}")


def _registry() -> PrincipalRegistry:
    from gateway.principals.registry import PrincipalRegistry

    return PrincipalRegistry(open_database(settings()))


def _as_json(info: PrincipalInfo) -> dict[str, object]:
    return {"id": info.id, "role": info.role.value, "name": info.name, "country": info.country,
            "status": info.status, "sealing_key": info.sealing_key, "sealing_kid": info.sealing_kid,
            "keys": [{"kid": k.kid, "public_key": k.public_key, "status": k.status,
                      "not_after": k.not_after} for k in info.keys]}


@principals_app.command("add")
@handle_errors
def add(
    role: Annotated[RoleChoice, typer.Option(help="authority, reviewer or auditor")],
    principal_id: Annotated[str, typer.Option("--id", help="the principal's id, e.g. bka-de")],
    name: Annotated[str, typer.Option(help="display name")],
    signing_key: Annotated[str, typer.Option(help="base64 Ed25519 public key (from `gateway keygen`)")],
    country: Annotated[str | None, typer.Option(help="ISO 3166-1 alpha-2; required for authorities")] = None,
    sealing_key: Annotated[str | None, typer.Option(help="base64 X25519 public key; authorities only")] = None,
) -> None:
    """Register a principal with its first token key."""
    info = _registry().add(role=_role(role), principal_id=principal_id, name=name, signing_key=signing_key,
                           country=country, sealing_key=sealing_key, now=int(time.time()))
    console.print_json(json.dumps(_as_json(info)))


@principals_app.command("list")
@handle_errors
def list_(
    role: Annotated[RoleChoice | None, typer.Option(help="only this role")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List principals and their keys."""
    from gateway.principals.registry import ACTIVE

    found = _registry().list(None if role is None else _role(role))
    if as_json:
        console.print_json(json.dumps([_as_json(p) for p in found]))
        return
    columns = [Col("id", whole=True), Col("role"), Col("name"), Col("country"), Col("status"),
               Col("token keys (kid)", whole=True)]
    rows = [[info.id, info.role.value, info.name, plain(info.country),
             info.status, "\n".join(f"{k.kid}{'' if k.status == ACTIVE else ' (' + k.status + ')'}" for k in info.keys)]
            for info in found]
    print_table(console, columns, rows)


@principals_app.command("suspend")
@handle_errors
def suspend(principal_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Suspend a principal: its tokens stop working at once and its approvals stop counting."""
    from gateway.principals.registry import SUSPENDED

    info = _registry().set_status(principal_id, SUSPENDED)
    console.print(f"suspended {info.id}")


@principals_app.command("reinstate")
@handle_errors
def reinstate(principal_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Lift a suspension."""
    from gateway.principals.registry import ACTIVE

    info = _registry().set_status(principal_id, ACTIVE)
    console.print(f"reinstated {info.id}")


@principals_app.command("add-key")
@handle_errors
def add_key(
    principal_id: Annotated[str, typer.Argument(metavar="ID")],
    signing_key: Annotated[str, typer.Option(help="base64 Ed25519 public key")],
) -> None:
    """Add a token key to a principal (key rotation)."""
    kid = _registry().add_key(principal_id, signing_key, now=int(time.time()))
    console.print(f"added key {kid} to {principal_id}")


@principals_app.command("retire-key")
@handle_errors
def retire_key(
    principal_id: Annotated[str, typer.Argument(metavar="ID")],
    kid: Annotated[str, typer.Argument(metavar="KID")],
) -> None:
    """Retire one of a principal's token keys; tokens signed with it stop working at once."""
    _registry().retire_key(principal_id, kid, now=int(time.time()))
    console.print(f"retired key {kid} of {principal_id}")


@principals_app.command("webhook")
@handle_errors
def webhook(
    principal_id: Annotated[str, typer.Argument(metavar="ID")],
    url: Annotated[str | None, typer.Argument(metavar="URL", help="https://… (http only to a loopback address)",
                                              show_default=False)] = None,
    remove: Annotated[bool, typer.Option("--remove", help="remove the authority's webhook")] = False,
) -> None:
    """Set an authority's webhook URL (or --remove it): its request and order events are POSTed there
    as Standard Webhooks, signed with the key discovery publishes as webhook_public_key."""
    from gateway.notifications.registration import set_webhook

    if (url is None) == (not remove):
        raise typer.BadParameter("give a URL, or --remove (not both)")
    registered = set_webhook(open_database(settings()), principal_id, None if remove else url)
    console.print(f"webhook of {principal_id} removed" if registered is None
                  else f"webhook of {principal_id} set; events are delivered from the next poll")


@principals_app.command("revoke-key")
@handle_errors
def revoke_key(
    principal_id: Annotated[str, typer.Argument(metavar="ID")],
    kid: Annotated[str, typer.Argument(metavar="KID", help="a token key's kid, or the sealing key's")],
) -> None:
    """Revoke a key at once (a stolen key): tokens signed with it are refused with KEY_REVOKED from
    the next request on, in every gateway process; a revoked sealing key leaves nothing sealed to
    the principal until it sets a new one. One audit entry records it."""
    from gateway.audit.model import AuditEvent, Decision
    from gateway.errors import AuditUnavailable
    from gateway.services import utc_now
    from gateway.transparency import facts
    from gateway.values.ids import KEY_REVOCATION, new_id

    with running_services() as services:
        now = utc_now()
        key, changed = services.registry.revoke_key(principal_id, kid, now=int(now.timestamp()))
        event = AuditEvent(request_id=new_id(KEY_REVOCATION), time=now, decision=Decision.SERVED,
                           facts=[facts.key_revoked(principal_id, kid, key)])
        try:
            receipt = services.audit.append_sync(event)
        except AuditUnavailable as exc:
            # The key stays revoked: a revocation is never undone for want of its entry.
            raise AuditUnavailable(f"{key} key {kid} of {principal_id} is revoked, but its audit entry could not "
                                   "be written; run this command again to record it") from exc
    said = (f"revoked {key} key {kid} of {principal_id}" if changed
            else f"{key} key {kid} of {principal_id} was revoked already; recorded it again")
    console.print(f"{said} (audit entry {receipt.index})", markup=False)
