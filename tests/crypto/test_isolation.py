"""crypto/ is the recipes layer: importing all of it loads nothing of the gateway or its frameworks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = {"gateway", "strawberry", "starlette", "sqlmodel", "sqlalchemy"}
# What crypto may import besides the standard library, with what those libraries load
# themselves: PyNaCl's compiled module and its cffi backend.
ALLOWED_THIRD_PARTY = {"crypto", "nacl", "_sodium", "_cffi_backend", "rfc8785", "orjson", "typing_extensions"}

PROBE = """
import importlib, json, sys
before = set(sys.modules)
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({"modules": sorted(set(sys.modules) - before),
                  "errors_file": sys.modules["crypto.errors"].__file__,
                  "stdlib": sorted(sys.stdlib_module_names)}))
"""


def crypto_modules() -> list[str]:
    names = sorted(path.stem for path in (REPO / "crypto").glob("*.py") if path.stem != "__init__")
    assert {"keys", "signing", "sealing", "tokens", "canonical", "encoding", "errors"} <= set(names)
    return ["crypto", *(f"crypto.{name}" for name in names)]


def test_importing_every_crypto_module_loads_no_gateway_or_framework_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *crypto_modules()],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert Path(report["errors_file"]).resolve() == REPO / "crypto" / "errors.py"  # this checkout's crypto
    # Modules loaded by the imports (not by interpreter start-up, e.g. an editable-install finder).
    top_level = {name.partition(".")[0] for name in report["modules"]}
    assert not top_level & FORBIDDEN, sorted(top_level & FORBIDDEN)
    third_party = top_level - set(report["stdlib"]) - set(sys.builtin_module_names)
    assert third_party <= ALLOWED_THIRD_PARTY, sorted(third_party - ALLOWED_THIRD_PARTY)
