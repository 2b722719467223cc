"""The deploy examples (issue 11, finding 4): a lost key must stop the gateway (and be restored from
backup), never be replaced over live data. The systemd unit never runs `gateway init`; compose runs
it as a one-shot the gateway waits for, which is safe because `init` refuses to mint a key over an
initialised database (tests/gateway/maintenance/test_initialize.py) and its failure keeps the gateway down."""

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


def test_compose_starts_the_gateway_only_after_init_succeeded() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert services["init"]["command"] == ["gateway", "init"]
    assert services["init"]["restart"] == "no"  # a failed init is not retried into a new key
    assert services["gateway"]["depends_on"]["init"] == {"condition": "service_completed_successfully"}
    others = [name for name in services if name != "init"]
    assert all("init" not in str(services[name].get("command", "")) for name in others)
