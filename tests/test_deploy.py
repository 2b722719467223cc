"""The deploy examples (issue 11, finding 4): nothing re-runs `gateway init` on every start, since a
lost key must stop the gateway (and be restored from backup), never be replaced over live data."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_the_systemd_unit_never_runs_init() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "gateway.service")
    commands = [value for key, value in unit["Service"].items() if key.startswith("Exec")]
    assert commands and all(" init" not in command for command in commands), commands
    assert unit["Service"]["UMask"] == "0077"


def test_compose_runs_init_only_when_asked_by_name() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert services["init"]["command"] == ["gateway", "init"]
    assert services["init"]["profiles"] == ["init"]  # `docker compose up` leaves it out
    started = [name for name, service in services.items() if not service.get("profiles")]
    assert all("init" not in str(services[name].get("command", "")) for name in started)
    assert all("init" not in str(services[name].get("depends_on", {})) for name in started)
