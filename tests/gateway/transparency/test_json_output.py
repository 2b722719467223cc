"""`gateway transparency report --json` and `verify --json`: one JSON object on stdout, stable keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.gateway.transparency.conftest import Scenario, verifier_key
from tests.gateway.transparency.test_report import export


def test_report_and_verify_json(scenario: Scenario, run: Callable[..., Result], tmp_path: Path) -> None:
    made = run("transparency", "report", "--period", scenario.period, "--out", tmp_path, "--json")
    assert made.exit_code == 0, made.output
    report = json.loads(made.stdout)
    assert set(report) == {"period", "version", "supersedes", "tree_size", "new", "files"}
    written = json.loads((tmp_path / "report.json").read_text())
    assert report["period"] == scenario.period and report["new"] is True and report["version"] == 1
    assert report["tree_size"] == written["checkpoint"]["tree_size"]
    assert report["files"] == [str(tmp_path / name) for name in ("report.json", "report.csv", "report.html")]

    entries = export(run, written, tmp_path)
    key = verifier_key(scenario.world.gateway.settings)
    checked = run("transparency", "verify", tmp_path / "report.json", "--entries", entries, "--verifier-key", key,
                  "--json")
    assert checked.exit_code == 0, checked.output
    found = json.loads(checked.stdout)
    assert set(found) == {"verified", "period", "version", "tree_size", "root_hash", "figures", "signed_by"}
    assert found["verified"] is True and found["tree_size"] == report["tree_size"] and found["figures"] > 0

    written["total"]["requests_received"] = written["total"]["requests_received"] + 1
    (tmp_path / "edited.json").write_text(json.dumps(written))
    refused = run("transparency", "verify", tmp_path / "edited.json", "--entries", entries, "--verifier-key", key,
                  "--json")
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["verified"] is False and json.loads(refused.stdout)["reason"]
