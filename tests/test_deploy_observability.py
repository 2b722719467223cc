"""The operator's monitoring files: Prometheus alert rules checked (and unit-tested) by promtool, and
the Grafana dashboard checked against the parts of Grafana's dashboard model it uses, its queries
parsed by promtool, and every metric it or the rules name one a running gateway exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import Settings
from gateway.maintenance.initialize import initialize
from tests.support.harness import running_gateway

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yaml"
DASHBOARD = DEPLOY / "grafana" / "disclosure-gateway.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is missing: apt-get install prometheus "
                                                              "(.ci/run does)")
METRIC = re.compile(r"\b((?:disclosure_gateway|process)_[a-z_]+)\b")

# Grafana's dashboard model (grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/),
# the parts this dashboard uses, strictly: a panel a Grafana could not place or query fails here.
_TARGET = {"type": "object", "required": ["refId", "expr", "datasource"],
           "properties": {"refId": {"type": "string", "pattern": "^[A-Z]$"}, "expr": {"type": "string", "minLength": 1},
                          "legendFormat": {"type": "string"}, "instant": {"type": "boolean"},
                          "format": {"enum": ["time_series", "table"]},
                          "datasource": {"$ref": "#/$defs/datasource"}},
           "additionalProperties": False}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {"datasource": {"type": "object", "required": ["type", "uid"],
                             "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}}}},
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {"type": "object", "required": ["list"], "properties": {"list": {"type": "array", "items": {
            "type": "object", "required": ["name", "type"],
            "properties": {"type": {"enum": ["datasource", "query", "custom", "interval"]}}}}}},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "type", "title", "gridPos", "targets", "datasource"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "type": {"enum": ["timeseries", "table", "stat", "gauge"]},
                "title": {"type": "string", "minLength": 1},
                "datasource": {"$ref": "#/$defs/datasource"},
                "gridPos": {"type": "object", "required": ["h", "w", "x", "y"], "additionalProperties": False,
                            "properties": {"h": {"type": "integer", "minimum": 1},
                                           "w": {"type": "integer", "minimum": 1, "maximum": 24},
                                           "x": {"type": "integer", "minimum": 0, "maximum": 23},
                                           "y": {"type": "integer", "minimum": 0}}},
                "targets": {"type": "array", "minItems": 1, "items": _TARGET}}}},
    },
}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def expressions() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


@needs_promtool
def test_promtool_checks_the_alert_rules_and_their_unit_tests(tmp_path: Path) -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(RULES.with_name("alerts.test.yaml")))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(x[5m])\n")
    assert promtool("check", "rules", str(bad)).returncode != 0


def test_the_rules_alert_on_what_the_operator_must_act_on() -> None:
    rules = {r["alert"]: r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert "disclosure_gateway_checkpoint_age_seconds" in rules["DisclosureGatewayCheckpointStale"]["expr"]
    assert 'code="AUDIT_UNAVAILABLE"' in rules["DisclosureGatewayAuditUnavailable"]["expr"]
    assert "disclosure_gateway_witness_lag_entries" in rules["DisclosureGatewayWitnessNotCosigning"]["expr"]
    assert "INTERNAL_ERROR" in rules["DisclosureGatewayServerErrors"]["expr"]


def test_the_dashboard_follows_grafanas_dashboard_model() -> None:
    board = dashboard()
    jsonschema.validate(board, SCHEMA)
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
    titles = {p["title"] for p in panels}
    assert {"Requests by code", "Refusals by code", "Request latency", "Checkpoint age", "Witness lag",
            "Audit writer batch size"} <= titles
    bad = json.loads(json.dumps(board))
    bad["panels"][0]["gridPos"]["w"] = 30
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


@needs_promtool
def test_promtool_parses_every_query_of_the_dashboard(tmp_path: Path) -> None:
    # Grafana's variables replaced by what they stand for, each query as a recording rule.
    rules = [{"record": f"dashboard:query{i}", "expr": e.replace("$__rate_interval", "5m").replace("$job", ".*")}
             for i, e in enumerate(expressions())]
    file = tmp_path / "dashboard-rules.yaml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = promtool("check", "rules", str(file))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_named_by_the_dashboard_and_the_rules_is_exported(
        make_settings: Callable[..., Settings], database_url: str) -> None:
    config = make_settings(database_url=database_url, metrics=True)
    initialize(config)
    with running_gateway(config) as harness:
        harness.post(None, "{ whoami { id } }")
        text = harness.client.get("/metrics").text
    exported: set[str] = set()
    for family in text_string_to_metric_families(text):
        exported.add(family.name)
        exported.update(sample.name for sample in family.samples)
        if family.type == "histogram":
            exported.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    named = {m for e in [*expressions(), RULES.read_text()] for m in METRIC.findall(e)}
    assert "disclosure_gateway_witness_lag_entries" in exported  # a family even before any witness cosigned
    assert named and named - exported == set()
