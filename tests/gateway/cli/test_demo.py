"""`gateway demo run`'s choice of data directory and database, and its last screen, without running the story."""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from gateway.cli.demo import DEMO_DATA_DIR, REVIEWER_IDS, DemoPrincipal, _demo_settings, _next_steps
from gateway.errors import OperatorError
from gateway.principals.registry import Role


@pytest.fixture(autouse=True)
def clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    for name in ("GATEWAY_DATA_DIR", "GATEWAY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_demo_uses_var_demo_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert _demo_settings().data_dir == DEMO_DATA_DIR
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "elsewhere"))
    assert _demo_settings().data_dir == tmp_path / "elsewhere"


def test_the_demo_never_writes_into_a_configured_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+psycopg://user@127.0.0.1/production")
    with pytest.raises(OperatorError, match="unset GATEWAY_DATABASE_URL"):
        _demo_settings()


def _principal(principal_id: str, role: Role, prefix: Path) -> DemoPrincipal:
    return DemoPrincipal(principal_id, role, principal_id.title(), prefix, SigningKey.generate(), PrivateKey.generate())


def test_the_demos_last_screen_names_the_console_and_each_reviewers_key_file(tmp_path: Path) -> None:
    keys = Path("var/demo/demo-keys")  # relative, as the demo's own default is
    authority = _principal("demo-bka", Role.AUTHORITY, keys / "authority")
    reviewers = [_principal(who, Role.REVIEWER, keys / f"reviewer-{n}") for n, who in enumerate(REVIEWER_IDS, 1)]
    screen = _next_steps("http://127.0.0.1:8099", 8099, "ord_x", authority, reviewers, Path("var/demo")).plain
    last = screen.splitlines()[-4:]
    assert last[1] == "http://127.0.0.1:8099/console/"
    # The console reads the file in a browser, whose file dialog does not start here: absolute paths.
    assert last[2:] == [f"#   {who}: {tmp_path / keys / f'reviewer-{n}.sign.key'}"
                        for n, who in enumerate(REVIEWER_IDS, 1)]
    assert "console" in last[0] and "key file" in last[0]
    off = _next_steps("http://127.0.0.1:8099", 8099, "ord_x", authority, reviewers, Path("var/demo"),
                      console_enabled=False).plain
    assert off.splitlines()[-1] == "# the reviewers' browser console is off here (GATEWAY_CONSOLE=false)"
    assert "/console/" not in off
