"""Fixtures of the crypto tests over the known-answer vectors in ``tests/assets/vectors/``.

``vectors_dir`` itself comes from ``tests/conftest.py``. The vectors are required: a missing file
or directory fails the tests (and the collection of the parametrized Merkle cases), never skips.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MERKLE_VECTORS_DIR = Path(__file__).resolve().parents[1] / "assets" / "vectors" / "merkle"
"""``tests/assets/vectors/merkle``, needed at collection time to parametrize the cases."""

MERKLE_CASE_FIXTURES = {
    "inclusion_case": "inclusion",
    "consistency_case": "consistency",
}
"""Fixture name -> directory under ``merkle/``; a test asking for one runs once per JSON file in it."""


@pytest.fixture(scope="session")
def load_vector(vectors_dir: Path) -> Callable[[str], Any]:
    """A factory: ``load_vector("merkle/tree_heads.json")`` is that file's parsed JSON."""

    def load(relative: str) -> Any:
        path = vectors_dir / relative
        if not path.is_file():
            pytest.fail(f"test vector {path} is missing", pytrace=False)
        return json.loads(path.read_text(encoding="utf-8"))

    return load


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``inclusion_case`` / ``consistency_case`` with every vector file, one id each."""
    for fixture, relative in MERKLE_CASE_FIXTURES.items():
        if fixture not in metafunc.fixturenames:
            continue
        directory = MERKLE_VECTORS_DIR / relative
        files = sorted(directory.rglob("*.json"))
        if not files:
            # An empty parameter set would make pytest skip the test; a missing vector must fail.
            pytest.fail(f"no Merkle test vectors under {directory}", pytrace=False)
        ids = [path.relative_to(MERKLE_VECTORS_DIR).as_posix() for path in files]
        metafunc.parametrize(fixture, files, ids=ids)
