"""The `gateway` command starts light (client/cli/group.py): a help imports only the module of the
command it shows, lazy commands list the same text as their docstrings, and skipping the coercion
of an absent option changes no value. The CPU figure itself is bench/bench_cli_start.py's."""

from __future__ import annotations

import inspect
import subprocess
import sys
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from client.cli.group import Group, _LazyStub
from gateway.cli.main import app as gateway_app

_BEHIND_STUBS = ("gateway.cli.audit", "gateway.cli.admin", "gateway.cli.serve", "gateway.cli.demo",
                 "client.cli.review", "client.cli.request", "client.cli.query", "client.cli.keys")


def _imported_by(args: list[str]) -> set[str]:
    """The modules a fresh `gateway ARGS --help` has imported when it has printed its help."""
    probe = ("import sys, atexit; from gateway.cli.main import run; "
             "atexit.register(lambda: sys.__stderr__.write('\\n'.join(sys.modules)))\n"
             f"sys.argv = ['gateway', *{args!r}, '--help']; run()")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return set(done.stderr.split())


def test_the_top_level_help_imports_no_command_module_nor_the_server_nor_pydantic() -> None:
    modules = _imported_by([])
    assert {"typer", "gateway.cli.main", "client.cli.group"} <= modules  # the probe sees what was imported
    assert modules.isdisjoint(_BEHIND_STUBS)
    assert modules.isdisjoint({"pydantic", "sqlalchemy", "starlette", "strawberry", "client.http"})


def test_a_group_help_imports_its_own_module_and_no_other() -> None:
    modules = _imported_by(["audit"])
    assert "gateway.cli.audit" in modules
    assert modules.isdisjoint(set(_BEHIND_STUBS) - {"gateway.cli.audit"})
    assert "pydantic" not in modules


def _root() -> tuple[Any, Any]:
    command = typer.main.get_command(gateway_app)
    return command, command.context_class(command, info_name="gateway")


def test_every_lazy_command_builds_and_lists_the_first_paragraph_of_its_own_help() -> None:
    root, ctx = _root()
    stubs = {name: cmd for name, cmd in root.commands.items() if isinstance(cmd, _LazyStub)}
    assert {"init", "serve", "keygen", "query", "open", "audit", "review", "request"} <= set(stubs)
    for name, stub in stubs.items():
        _, built, _ = root.resolve_command(ctx, [name])
        assert built is not None and not isinstance(built, _LazyStub), name
        assert built.name == name
        own = inspect.cleandoc(built.help or "").split("\n\n")[0]
        assert " ".join(own.split()) == stub.help, f"{name}: the listed help is not the command's own"
        assert root.commands[name] is built  # built once, then kept


def test_a_mistyped_lazy_group_is_suggested_by_name() -> None:
    result = CliRunner().invoke(gateway_app, ["audti"])
    assert result.exit_code == 2
    assert "Did you mean 'audit'?" in result.output


def _echoing_app() -> typer.Typer:
    app = typer.Typer(cls=Group)

    @app.command()
    def show(required: Annotated[str, typer.Option()], optional: Annotated[str | None, typer.Option()] = None,
             many: Annotated[list[str] | None, typer.Option()] = None, count: int = 3) -> None:
        print(repr((required, optional, many, count)))

    @app.command()
    def other() -> None:
        pass

    return app


@pytest.mark.parametrize(("args", "printed"), [
    (["--required", "r"], "('r', None, None, 3)"),
    (["--required", "r", "--optional", "o", "--many", "a", "--many", "b", "--count", "4"],
     "('r', 'o', ['a', 'b'], 4)"),
])
def test_absent_options_take_the_same_values_as_before(args: list[str], printed: str) -> None:
    result = CliRunner().invoke(_echoing_app(), ["show", *args])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == printed


def test_an_absent_required_option_is_still_refused_and_a_bad_value_still_coerced() -> None:
    missing = CliRunner().invoke(_echoing_app(), ["show"])
    assert missing.exit_code == 2 and "Missing option '--required'" in missing.output
    bad = CliRunner().invoke(_echoing_app(), ["show", "--required", "r", "--count", "many"])
    assert bad.exit_code == 2 and "--count" in bad.output
