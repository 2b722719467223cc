"""`gateway --help` and each command's help import no server and no database layer: those are
imported inside the commands that serve or touch the database (bench/bench_cli_start.py measures
the CPU a help costs; this checks, in a fresh interpreter, what it loads)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.cli.admin import RoleChoice
from gateway.principals.registry import Role

SERVER_AND_DATABASE = ("sqlalchemy", "sqlmodel", "alembic", "strawberry", "starlette", "uvicorn", "psycopg",
                       "pydantic_settings", "httpx", "gateway.config", "gateway.store", "gateway.api", "gateway.app")

_PROBE = """
import json, sys
from gateway.cli.main import app
try:
    app(sys.argv[1:], prog_name="gateway")
except SystemExit:
    pass
names = set(sys.modules)
print(json.dumps(sorted(n for n in names if any(n == w or n.startswith(w + ".") for w in json.loads(WANTED)))))
"""


@pytest.mark.parametrize("args", [["--help"], ["audit", "--help"], ["review", "--help"], ["serve", "--help"],
                                  ["principals", "add", "--help"], ["witness", "serve", "--help"]], ids=" ".join)
def test_a_help_imports_no_server_and_no_database(args: list[str]) -> None:
    probe = _PROBE.replace("WANTED", repr(json.dumps(SERVER_AND_DATABASE)))
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_the_roles_the_options_offer_are_the_registrys() -> None:
    assert [choice.value for choice in RoleChoice] == [role.value for role in Role]
