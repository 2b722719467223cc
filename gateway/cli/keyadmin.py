"""`gateway keys backup|restore|rotate`: the gateway's own keys, on the gateway host (docs/PROTOCOL.md §13)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from client.cli.group import Group
from client.cli.keys import public as public_halves_command
from client.cli.keys import rotate_principal
from client.cli.words import plural
from crypto.encoding import b64encode
from crypto.note import verifier_key_string
from gateway.cli import groups
from gateway.cli.common import console, err_console, fail, handle_errors, open_database, settings
from gateway.errors import OperatorError

if TYPE_CHECKING:  # backup and rotation reach the database: imported when a command runs
    from gateway.maintenance.rotation import Progress

__all__ = ["app"]

app = typer.Typer(help=groups.KEYS, cls=Group, no_args_is_help=True)
rotate_app = typer.Typer(help="Rotate one of the gateway's keys. Stop every gateway process first; start them "
                              "again after.", cls=Group, no_args_is_help=True)
app.add_typer(rotate_app, name="rotate")
# A principal's key files, not the gateway's: their public halves, to register them.
app.command("public")(public_halves_command)
app.command("rotate-principal")(rotate_principal)


def _passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8").removesuffix("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise OperatorError(f"cannot read --passphrase-file {passphrase_file}: {type(exc).__name__}") from exc
    else:
        text = typer.prompt("passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    if len(text) < 12:
        fail("the passphrase must be at least 12 characters")
    return text


@app.command("backup")
@handle_errors
def backup(
    out: Annotated[Path, typer.Option(help="write the encrypted backup here (refused if it exists)")],
    recipient: Annotated[list[str] | None, typer.Option(
        help="encrypt to this age recipient (age1…, from age-keygen); repeatable. Without it, a passphrase")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(
        help="read the passphrase from this file instead of asking")] = None,
) -> None:
    """Write every key of $GATEWAY_DATA_DIR/keys to one age-encrypted file (`age --decrypt` opens it)."""
    from gateway.maintenance.backup import encrypt_backup, read_key_files

    config = settings()
    if out.exists():
        fail(f"{out} exists already; choose another --out")
    files = read_key_files(config)
    passphrase = None if recipient else _passphrase(passphrase_file, confirm=True)
    data = encrypt_backup(config, files, recipients=recipient, passphrase=passphrase)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    err_console.print(f"backed up {len(files)} key files of {escape(config.id)} to {escape(str(out))} "
                      f"({'age recipients' if recipient else 'passphrase'})")


@app.command("restore")
@handle_errors
def restore(
    file: Annotated[Path, typer.Argument(help="a backup written by `gateway keys backup`", show_default=False)],
    identity: Annotated[Path | None, typer.Option(
        help="an age identity file (AGE-SECRET-KEY-…) whose recipient the backup was encrypted to")] = None,
    passphrase_file: Annotated[Path | None, typer.Option(
        help="read the passphrase from this file instead of asking")] = None,
    unchecked: Annotated[bool, typer.Option(
        help="restore even when the database has nothing to check the keys against")] = False,
) -> None:
    """Put a backup's keys back, after checking them against the database: the at-rest key must open
    a subject, the blind-index key find it, the checkpoint key verify the latest checkpoint.
    Nothing is written unless every check passes."""
    from gateway.maintenance.backup import decrypt_backup, restore_keys

    config = settings()
    open_database(config).dispose()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise OperatorError(f"cannot read {file}: {exc.strerror or exc}") from exc
    if identity is not None:
        try:
            lines = [line for line in identity.read_text(encoding="ascii").splitlines()
                     if line.strip() and not line.startswith("#")]
        except (OSError, UnicodeDecodeError) as exc:
            raise OperatorError(f"cannot read --identity {identity}: {type(exc).__name__}") from exc
        document = decrypt_backup(data, identities=lines)
    else:
        document = decrypt_backup(data, passphrase=_passphrase(passphrase_file, confirm=False))
    report = restore_keys(config, document, unchecked=unchecked)
    for check in report.checks:
        console.print(f"checked: {check}")
    console.print(f"restored {len(report.written)} key files into {escape(str(config.keys_dir.resolve()))}"
                  + (f"; {len(report.unchanged)} were in place already" if report.unchanged else ""))


@contextmanager
def _bar() -> Iterator[Progress]:
    with RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=err_console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(f"re-keying {what}", total=total)
            bar.update(tasks[what], completed=done)

        yield update


@rotate_app.command("signing")
@handle_errors
def rotate_signing_key(
    stage: Annotated[bool, typer.Option(
        "--stage", help="only write the next key (keys/checkpoint.sign.key.next) and stop; where the gateway's "
                        "keys come from a read-only Secret, give it to every process first, then run this again "
                        "without --stage")] = False,
) -> None:
    """Retire the signing key at the log's current size, with the gateway serving: the current key
    signs a last checkpoint, the log's key record names the next key from that size on, and every
    gateway process that has the next key in its keys directory takes it over within seconds.
    Discovery lists both keys."""
    from gateway.audit.checkpoints import note_name
    from gateway.maintenance.rotation import rotate_signing

    config = settings()
    open_database(config).dispose()
    rotation = rotate_signing(config, stage_only=stage)
    name = note_name(config.origin)
    new = (f"{verifier_key_string(name, bytes(rotation.new_key))} "
           f"(gateway_signing_key {b64encode(bytes(rotation.new_key))})")
    if rotation.tree_size is None:
        console.print(f"staged the next signing key {new} in "
                      f"{escape(str((config.keys_dir / 'checkpoint.sign.key.next').resolve()))}; it signs nothing "
                      "yet. Give that file to every gateway process, then run `gateway keys rotate signing`")
        return
    console.print(f"retired {verifier_key_string(name, bytes(rotation.old_key))} at tree size {rotation.tree_size}")
    console.print(f"new checkpoint verifier key {new}; every gateway process whose keys directory holds it "
                  "(as checkpoint.sign.key or checkpoint.sign.key.next) signs with it from now on")


@rotate_app.command("at-rest")
@handle_errors
def rotate_at_rest_key() -> None:
    """Re-seal every subject and every request's selectors under a new at-rest key. Interrupted, run
    it again: it resumes, and until it finishes the old key is kept and still opens what it sealed."""
    from gateway.maintenance.rotation import rotate_at_rest

    config = settings()
    open_database(config).dispose()
    with _bar() as progress:
        count = rotate_at_rest(config, progress=progress)
    console.print(f"at-rest key rotated: {plural(count, 'row')} re-sealed; the old key is gone (keep backups)")


@rotate_app.command("blind-index")
@handle_errors
def rotate_blind_index_key() -> None:
    """Recompute every subject's lookup index under a new blind-index key. Interrupted, run it again."""
    from gateway.maintenance.rotation import rotate_blind_index

    config = settings()
    open_database(config).dispose()
    with _bar() as progress:
        count = rotate_blind_index(config, progress=progress)
    console.print(f"blind-index key rotated: {plural(count, 'subject')} re-indexed")
