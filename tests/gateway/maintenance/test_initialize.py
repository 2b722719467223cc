"""Issue 11, finding 4 on every database: `initialize` mints no key over an initialised schema."""

from __future__ import annotations

import pytest

from gateway.config import Settings
from gateway.errors import OperatorError
from gateway.keys.keyring import key_paths
from gateway.maintenance.initialize import initialize, is_initialised


def test_a_missing_key_over_an_initialised_database_is_an_error_that_changes_nothing(settings: Settings) -> None:
    paths = key_paths(settings)
    paths["checkpoint"].unlink()
    others = {name: path.read_bytes() for name, path in paths.items() if name != "checkpoint"}
    assert is_initialised(settings)
    with pytest.raises(OperatorError, match="restore it from backup"):
        initialize(settings)
    assert not paths["checkpoint"].exists()
    assert {name: path.read_bytes() for name, path in paths.items() if name != "checkpoint"} == others


def test_init_twice_changes_nothing(settings: Settings) -> None:
    assert not initialize(settings).changed
