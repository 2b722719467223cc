"""Every import between two units of ``gateway`` runs down the floors that ``gateway/__init__.py``
states: a unit imports only units on a lower floor, or one listed before it on its own floor. An
AST walk over every module, so an import inside a function or behind ``TYPE_CHECKING`` counts as
much as one at the top; a failure names the import that climbs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GATEWAY = REPO / "gateway"

# Bottom up, as gateway/__init__.py draws them: one tuple a floor, its units in their order.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "config", "store"),
    ("values", "keys", "observability", "notifications"),
    ("principals", "subjects", "audit"),
    ("orders",),
    ("transparency",),
    ("lifecycle",),
    ("services", "maintenance"),
    ("api.graphql", "api.http"),
    ("app",),
    ("cli",),
)
# Apart from the floors: what each may import, and who may import it.
APART = {"console": ({"errors"}, {"app", "cli"}), "witness": ({"errors"}, {"app", "cli"})}
RANK = {unit: (floor, place) for floor, units in enumerate(FLOORS) for place, unit in enumerate(units)}


def unit_of(module: str) -> str | None:
    """The unit a ``gateway`` module belongs to (``api`` splits in two), or None outside gateway."""
    parts = module.split(".")
    if parts[0] != "gateway" or len(parts) < 2:
        return None
    if parts[1] == "api" and len(parts) > 2:
        return f"api.{parts[2]}"
    return parts[1]


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(REPO).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imports_of(source: str) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in ``source``; ``from gateway import x`` (or
    ``from gateway.api import x``) as ``gateway.x``, since there the name is the unit."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module in ("gateway", "gateway.api"):
                found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, node.module))
    return found


def may_import(importer: str, imported: str) -> bool:
    if importer == imported:
        return True
    if importer in APART:
        return imported in APART[importer][0]
    if imported in APART:
        return importer in APART[imported][1]
    if importer not in RANK or imported not in RANK:
        return False  # a unit no floor names: place it in gateway/__init__.py and FLOORS first
    return RANK[imported] < RANK[importer]


def climbing_imports(path: Path, source: str) -> list[str]:
    importer = unit_of(module_name(path))
    assert importer is not None
    climbs = []
    for line, imported_module in imports_of(source):
        imported = unit_of(imported_module)
        if imported is not None and imported != "api" and not may_import(importer, imported):
            climbs.append(f"{path.relative_to(REPO)}:{line} imports {imported_module} ({importer} -> {imported})")
    return sorted(set(climbs))


def gateway_modules() -> list[Path]:
    modules = sorted(p for p in GATEWAY.rglob("*.py") if "migrations" not in p.parts and p != GATEWAY / "__init__.py")
    assert len(modules) > 100
    return modules


@pytest.mark.parametrize("path", gateway_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_module_imports_only_down_the_floors(path: Path) -> None:
    assert climbing_imports(path, path.read_text(encoding="utf-8")) == []


def test_every_unit_of_the_gateway_stands_on_a_floor() -> None:
    units = {unit_of(module_name(p)) for p in gateway_modules()} - {"api"}
    assert units - set(RANK) - set(APART) == set()


def test_gateway_docstring_draws_the_same_floors() -> None:
    import gateway

    # "N  unit  unit   what they hold": the units stand between the number and a wider gap.
    drawn = [re.split(r"\s{3,}", line.strip())[0].split()[1:] for line in (gateway.__doc__ or "").splitlines()
             if line[:6].strip().isdigit()]
    named = [tuple(words) for words in drawn]
    assert named == [tuple(dict.fromkeys(u.partition(".")[0] for u in floor)) for floor in FLOORS]


@pytest.mark.parametrize(("importer", "source", "climb"), [
    ("gateway/store/engine.py", "from gateway.orders.policy import OrderDocument\n", "store -> orders"),
    ("gateway/values/times.py", "def f():\n    import gateway.errors\n    from gateway.audit import model\n",
     "values -> audit"),
    ("gateway/audit/writer.py", "from gateway.lifecycle.preservation import hold_context\n", "audit -> lifecycle"),
    ("gateway/api/graphql/context.py", "from gateway.api.http.endpoint import error_body\n",
     "api.graphql -> api.http"),
    ("gateway/keys/vault.py", "from gateway.observability.metrics import METRICS\n", "keys -> observability"),
    ("gateway/witness/service.py", "from gateway.config import Settings\n", "witness -> config"),
    ("gateway/orders/service.py", "from gateway.witness.service import Witness\n", "orders -> witness"),
])
def test_a_climbing_import_is_named(importer: str, source: str, climb: str) -> None:
    [found] = climbing_imports(REPO / importer, source)
    assert found.endswith(f"({climb})")
    assert found.startswith(importer + ":")


def test_an_import_down_the_floors_passes() -> None:
    assert climbing_imports(GATEWAY / "orders" / "service.py",
                            "from gateway.audit.model import Action\nfrom gateway.errors import BadRequest\n") == []
