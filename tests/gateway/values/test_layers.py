"""Imports inside ``gateway`` flow one way: the value layer at the bottom imports nothing of the
gateway but its errors, and policy (may this proceed?) imports no storage, directly or through
another gateway module. An AST walk, so an import inside a function counts too."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
STORAGE_LIBRARIES = {"sqlalchemy", "sqlmodel", "alembic", "psycopg"}
STORAGE_MODULES = ("gateway.store", "gateway.subjects.store", "gateway.keys.vault", "gateway.orders.service")


def module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def closure(start: str) -> set[str]:
    """Every module ``start`` imports, following the gateway's own modules transitively."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        path = module_file(name)
        if path is None or name in seen:
            continue
        seen.add(name)
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        parents = [".".join(name.split(".")[:i]) for i in range(2, name.count(".") + 1)]
        for imported in [*imports_of(path), *parents]:
            if imported.startswith("gateway."):
                todo.append(imported)
            seen.add(imported)
    return seen


def test_policy_imports_no_storage() -> None:
    reached = closure("gateway.orders.policy")
    assert {m.partition(".")[0] for m in reached} & STORAGE_LIBRARIES == set()
    assert [m for m in reached if m.startswith(STORAGE_MODULES)] == []


@pytest.mark.parametrize("module", sorted(p.stem for p in (REPO / "gateway" / "values").glob("*.py")))
def test_value_module_imports_only_the_standard_library_and_errors(module: str) -> None:
    reached = {m for m in closure(f"gateway.values.{module}") if m.startswith("gateway.")}
    assert {m for m in reached if not m.startswith(("gateway.values", "gateway.errors"))} == set()
    top_levels = {m.partition(".")[0] for m in closure(f"gateway.values.{module}")}
    assert top_levels - {"gateway", "crypto", "__future__"} <= set(sys.stdlib_module_names)


def test_the_walk_follows_imports_through_other_modules() -> None:
    assert "sqlalchemy" in {m.partition(".")[0] for m in closure("gateway.subjects.store")}
