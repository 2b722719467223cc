"""The principals' toolkit runs from an install that has only ``client/`` and ``crypto/``: both
packages are copied into a fresh folder and run with ``python -I`` (no PYTHONPATH, no user site)
behind an import hook that makes the gateway and every server library unimportable. Against a
real `gateway serve` on loopback, an authority submits and queries, and two reviewers review,
draft and approve, all through ``python -m client`` under the program name `gateway`."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gateway.cli.main import app as gateway_cli
from gateway.subjects.synthetic import generate_subjects
from tests.support.live import REPO, Finished, clean_env, free_port, run, serving

pytestmark = pytest.mark.e2e

BLOCKED = ("gateway", "sqlalchemy", "sqlmodel", "alembic", "strawberry", "starlette", "uvicorn")
# Run as `python -I ROOT/run_client.py ARGS…`; -I leaves the script's folder off sys.path, so the
# script puts it first itself, then refuses the server's packages before any finder is asked.
RUNNER = f"""
import importlib.abc, json, os, runpy, sys

BLOCKED = {BLOCKED!r}


class RefuseServer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not installed here)", name=name)
        return None


sys.meta_path.insert(0, RefuseServer())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
if sys.argv[1:] == ["--probe"]:
    import client.cli.main, crypto
    for name in BLOCKED:
        try:
            __import__(name)
        except ImportError:
            continue
        print(json.dumps({{"importable": name}}))
        sys.exit(3)
    print(json.dumps({{"client": client.__file__, "crypto": crypto.__file__,
                      "loaded": sorted({{m.partition(".")[0] for m in sys.modules}})}}))
    sys.exit(0)
sys.argv[0] = "gateway"
runpy.run_module("client", run_name="__main__", alter_sys=True)
"""


@dataclass
class Standalone:
    root: Path
    env: dict[str, str]
    subjects: list[dict[str, Any]]

    def client(self, *args: str) -> Finished:
        """The principals' `gateway ARGS…` from the client-only install."""
        return run([sys.executable, "-I", str(self.root / "install" / "run_client.py"), *args], env=self.env,
                   cwd=self.root)

    def ok(self, *args: str) -> str:
        done = self.client(*args)
        assert done.returncode == 0, f"gateway {' '.join(args)}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def as_(self, who: str) -> list[str]:
        return ["--id", who, "--key", str(self.root / "keys" / who)]


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    root = tmp_path_factory.mktemp("standalone")
    install = root / "install"
    for package in ("client", "crypto"):
        shutil.copytree(REPO / package, install / package, ignore=shutil.ignore_patterns("__pycache__"))
    (install / "run_client.py").write_text(RUNNER, encoding="utf-8")
    port = free_port()
    env = clean_env(GATEWAY_DATA_DIR=str(root / "var"), GATEWAY_ID="gateway.standalone",
                    GATEWAY_URL=f"http://127.0.0.1:{port}")
    setup = Standalone(root, env, list(generate_subjects(3, seed=11, ip_events=4)))

    def operator(*args: str) -> str:
        result = CliRunner().invoke(gateway_cli, list(args), env=env)
        assert result.exit_code == 0, f"gateway {' '.join(args)}\n{result.output}"
        return result.stdout

    operator("init")
    keys = {who: json.loads(setup.ok("keygen", "--out", str(root / "keys" / who)))
            for who in ("bka-de", "legal-anna", "legal-ben")}
    operator("principals", "add", "--role", "authority", "--id", "bka-de", "--name", "BKA", "--country", "DE",
             "--signing-key", keys["bka-de"]["signing_key"], "--sealing-key", keys["bka-de"]["sealing_key"])
    for reviewer in ("legal-anna", "legal-ben"):
        operator("principals", "add", "--role", "reviewer", "--id", reviewer, "--name", reviewer,
                 "--signing-key", keys[reviewer]["signing_key"])
    jsonl = root / "subjects.jsonl"
    jsonl.write_text("".join(json.dumps(s) + "\n" for s in setup.subjects), encoding="utf-8")
    operator("subjects", "import", str(jsonl))
    with serving(env, root, port, root / "server.log"):
        yield setup


def test_the_install_has_only_client_and_crypto(standalone: Standalone) -> None:
    probe = json.loads(standalone.ok("--probe"))
    install = standalone.root / "install"
    assert Path(probe["client"]).parent == install / "client"
    assert Path(probe["crypto"]).parent == install / "crypto"
    assert not set(probe["loaded"]) & set(BLOCKED)


def test_the_client_program_is_called_gateway_and_offers_exactly_the_principals_commands(
        standalone: Standalone) -> None:
    shown = standalone.ok("--help")
    assert "Usage: gateway " in shown
    panel = shown[shown.index("Commands"):]
    # One row a command; a wrapped description continues on lines that start with blanks.
    commands = {line.split()[1] for line in panel.splitlines() if line.startswith("│ ") and line[2] != " "}
    assert commands == {"keygen", "request", "review", "query", "open"}


def test_request_review_and_query_work_from_the_client_alone(standalone: Standalone) -> None:
    subject = standalone.subjects[0]
    court_order = standalone.root / "court-order.pdf"
    court_order.write_bytes(b"%PDF-1.7 Beschluss")
    submitted = json.loads(standalone.ok(
        "request", "submit", *standalone.as_("bka-de"), "--case-reference", "AZ 1/26", "--court", "AG Tiergarten",
        "--jurisdiction", "DE", "--legal-basis", "§ 100g StPO", "--offense-category", "fraud",
        "--court-order", str(court_order), "--phone", subject["phone"], "--fields", "phoneNumber",
        "--from", "2026-01-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z", "--justification", "a test", "--json"))
    request_id = submitted["id"]
    assert submitted["status"] == "PENDING"
    assert [r["id"] for r in json.loads(standalone.ok("request", "list", *standalone.as_("bka-de"), "--json"))] \
        == [request_id]

    listed = json.loads(standalone.ok("review", "list", *standalone.as_("legal-anna"), "--json"))
    assert [(r["id"], r["resolvedSubjectIds"]) for r in listed] == [(request_id, [subject["id"]])]
    assert subject["id"] in standalone.ok("review", "show", request_id, *standalone.as_("legal-anna"))
    valid_until = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    order = json.loads(standalone.ok("review", "draft", request_id, *standalone.as_("legal-anna"),
                                     "--valid-until", valid_until, "--max-queries", "3", "--json"))
    for reviewer in ("legal-anna", "legal-ben"):
        assert "approved: order" in standalone.ok("review", "approve", order["id"], *standalone.as_(reviewer), "--yes")
    assert json.loads(standalone.ok("review", "order", order["id"], *standalone.as_("legal-ben"), "--json")
                      )["status"] == "ACTIVE"

    opened = json.loads(standalone.ok("query", "--order", order["id"], *standalone.as_("bka-de"), "--all",
                                      "--fields", "phoneNumber", "--json"))
    assert [(r["subject_id"], r["field"], r["order_id"]) for r in opened["records"]] == \
        [(subject["id"], "phoneNumber", order["id"])]
    refused = standalone.client("query", "--order", order["id"], *standalone.as_("bka-de"), "--all",
                                "--fields", "devices")
    assert refused.returncode == 3
    assert "refused: FIELD_NOT_PERMITTED: " in refused.stderr
