"""Exit codes that tell (`gateway --help` epilog, docs/PROTOCOL.md §9): 0 done, 1 a check failed,
2 bad usage or local input and nothing sent, 3 refused by the gateway with its code, 4 the gateway
or the database could not be reached; `--version` on both programs; and the local checks that
turn a typo into exit 2 before anything is signed or sent."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from client.audit_ref import AuditRef
from client.cli.common import client_command
from client.cli.main import app as client_app
from client.errors import GatewayRefused
from client.keyfiles import write_key_pair
from gateway.cli.main import app as gateway_app
from tests.support.live import free_port

WINDOW = ["--from", "2026-09-01T00:00:00Z", "--until", "2026-10-01T00:00:00Z"]


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens: anything sent there would end in exit 4."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    write_key_pair(tmp_path / "me")
    return tmp_path / "me"


@pytest.fixture
def run() -> Callable[..., Result]:
    runner = CliRunner()
    return lambda *args: runner.invoke(client_app, list(args))


def _submit(keys: Path, url: str, *extra: str) -> list[str]:
    given = dict(zip(extra[::2], extra[1::2], strict=True))
    base = {"--case-reference": "AZ 1", "--court": "AG", "--jurisdiction": "DE", "--legal-basis": "x",
            "--offense-category": "fraud", "--fields": "phoneNumber", "--from": WINDOW[1], "--until": WINDOW[3],
            "--justification": "x", "--court-order-sha256": "ab" * 32, "--phone": "+4915123456789"}
    flat = [part for name, value in (base | given).items() for part in (name, value)]
    return ["request", "submit", "--id", "bka-de", "--key", str(keys), "--url", url, *flat]


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--from", "01/09/2026", "--from: times must be RFC 3339 with Z or an offset, e.g. 2026-09-01T00:00:00Z"),
    ("--until", "2026-10-01T00:00:00", "--until: times must be RFC 3339 with Z or an offset"),
    ("--non-disclosure-until", "next year", "--non-disclosure-until: times must be RFC 3339"),
    ("--phone", "0151 2345 6789", "--phone: not a valid phone number (E.164 with its + country code)"),
    ("--phone", "+1 800 FLOWERS", "--phone: not a valid phone number"),
    ("--fields", "phone", "--fields: 1 unknown field name ('phone'); fields are phoneNumber, ipAddresses, "
                          "devices, usernameHistory"),
    ("--fields", ",", "--fields: name at least one field: phoneNumber, ipAddresses, devices, usernameHistory"),
    ("--offense-category", "shoplifting", "'shoplifting' is not one of"),
])
def test_a_typo_in_a_request_exits_2_in_the_gateways_words_and_sends_nothing(
        run: Callable[..., Result], keys: Path, closed_url: str, option: str, value: str, message: str) -> None:
    result = run(*_submit(keys, closed_url, option, value))
    # 2, not 4: had anything been sent to closed_url, the connection would have failed first.
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert value not in result.stderr or option in ("--fields", "--offense-category")  # a selector is not echoed


@pytest.mark.parametrize("args", [
    ["review", "draft", "lrq_1", "--valid-until", "in three days", "--max-queries", "1"],
    ["review", "draft", "lrq_1", "--valid-until", "2026-12-01T00:00:00Z", "--max-queries", "1",
     "--from", "2026-09-01", "--until", "2026-10-01T00:00:00Z"],
    ["request", "preserve", "--until", "2026-12-01", "--phone", "+4915123456789", "--case-reference", "AZ",
     "--jurisdiction", "DE", "--legal-basis", "x"],
    ["request", "preserve", "--until", "2026-12-01T00:00:00Z", "--phone", "12345", "--case-reference", "AZ",
     "--jurisdiction", "DE", "--legal-basis", "x"],
    ["query", "--order", "ord_1", "--fields", "phoneNumber", "--phone", "+49 abc"],
])
def test_other_commands_check_times_and_phones_before_sending(
        run: Callable[..., Result], keys: Path, closed_url: str, args: list[str]) -> None:
    result = run(*args, "--id", "x", "--key", str(keys), "--url", closed_url)
    assert result.exit_code == 2, result.output
    assert "RFC 3339" in result.stderr or "not a valid phone number" in result.stderr


def test_a_well_formed_request_is_sent_and_an_absent_gateway_exits_4(
        run: Callable[..., Result], keys: Path, closed_url: str) -> None:
    result = run(*_submit(keys, closed_url))
    assert result.exit_code == 4, result.output
    assert closed_url in result.stderr


def test_a_refusal_exits_3_with_its_code() -> None:
    app = typer.Typer()

    @app.command()
    @client_command
    def refused() -> None:
        where = AuditRef(request_id="req_1", index=7, leaf_hash="")
        raise GatewayRefused("FORBIDDEN_ROLE", "reviewers only", 403, where)

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 3
    assert "refused: FORBIDDEN_ROLE: reviewers only" in result.stderr
    assert "audit entry 7" in result.stderr


def test_a_value_that_does_not_open_exits_1(run: Callable[..., Result], keys: Path, tmp_path: Path) -> None:
    saved = tmp_path / "response.json"
    saved.write_text("not json")
    result = run("open", str(saved), "--key", str(keys))
    assert result.exit_code == 1
    assert "is not a JSON response" in result.stderr


def test_a_database_that_cannot_be_reached_exits_4(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    result = CliRunner().invoke(gateway_app, ["principals", "list"])
    assert result.exit_code == 4, result.output
    assert "cannot reach the database" in result.stderr and "GATEWAY_DATABASE_URL" in result.stderr


def test_bad_local_input_to_an_operator_command_stays_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    result = CliRunner().invoke(gateway_app, ["principals", "list"])
    assert result.exit_code == 2 and "gateway init" in result.stderr


@pytest.mark.parametrize("app", [client_app, gateway_app], ids=["python -m client", "gateway"])
def test_version_prints_the_installed_version(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"disclosure-gateway {version('disclosure-gateway')}\n"


@pytest.mark.parametrize("app", [client_app, gateway_app], ids=["python -m client", "gateway"])
def test_the_top_level_help_documents_the_exit_codes(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    for words in ("0 done", "1 a check failed", "2 bad usage or local input", "3 refused by the gateway",
                  "4 the gateway or the database could not be reached"):
        assert words in text


def test_the_shell_completes_the_gateway_commands_and_prints_its_script() -> None:
    """`gateway --install-completion` installs what `--show-completion` prints; that script asks the
    program itself, through click's completion protocol, which words may come next."""
    import subprocess
    import sys

    gateway = Path(sys.executable).with_name("gateway")
    script = subprocess.run([str(gateway), "--show-completion", "bash"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert script.returncode == 0 and "_GATEWAY_COMPLETE=complete_bash" in script.stdout
    env = {"PATH": "/usr/bin:/bin", "_GATEWAY_COMPLETE": "complete_bash", "COMP_WORDS": "gateway principals re",
           "COMP_CWORD": "2"}
    words = subprocess.run([str(gateway)], capture_output=True, text=True, timeout=60, check=False, env=env)
    assert words.returncode == 0 and {"reinstate", "retire-key"} <= set(words.stdout.split())
