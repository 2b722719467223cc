"""client/ is a program of its own: it imports ``crypto`` and its own libraries, never ``gateway``
and never the server's libraries. An AST walk over every module, so that an import inside a
function or behind ``TYPE_CHECKING`` counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "client"
SERVER_ONLY = {"gateway", "sqlalchemy", "sqlmodel", "alembic", "strawberry", "starlette", "uvicorn", "pydantic",
               "pydantic_settings", "psycopg", "prometheus_client"}


def imported_top_levels(path: Path) -> set[str]:
    """Every top-level package ``path`` imports, relative imports resolved against client/."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("client" if node.level else (node.module or "").partition(".")[0])
    return found


def client_modules() -> list[Path]:
    modules = sorted(CLIENT.rglob("*.py"))
    assert {"http.py", "unseal.py", "operations.py", "wire.py", "errors.py"} <= {m.name for m in modules}
    return modules


@pytest.mark.parametrize("module", client_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_client_module_imports_nothing_of_the_server(module: Path) -> None:
    assert imported_top_levels(module) & SERVER_ONLY == set()


def test_the_walk_sees_an_import_hidden_in_a_function(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden.py"
    hidden.write_text("def f():\n    from gateway.orders import Orders\n    import sqlalchemy.orm\n")
    assert imported_top_levels(hidden) == {"gateway", "sqlalchemy"}


def test_no_server_module_imports_the_client_outside_its_cli() -> None:
    # The server's `gateway` command mounts the client's commands and the demo drives them; nothing
    # else of the server may lean on the client.
    offenders = [str(path.relative_to(REPO)) for path in sorted((REPO / "gateway").rglob("*.py"))
                 if "client" in imported_top_levels(path) and path.parent.name != "cli"]
    assert offenders == []
