"""`gateway subjects import|count` and `gateway demo seed` through typer's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from gateway.cli import demo, subjects
from gateway.config import load_settings
from gateway.maintenance.initialize import initialize
from gateway.subjects.synthetic import generate_subjects

cli = typer.Typer()
cli.add_typer(subjects.app, name="subjects")
cli.add_typer(demo.app, name="demo")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised gateway on SQLite in tmp_path, configured the way an operator would: GATEWAY_DATA_DIR."""
    monkeypatch.chdir(tmp_path)  # no stray .env from the working directory
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "var"))
    initialize(load_settings())
    return tmp_path / "var"


@pytest.fixture
def run() -> Callable[..., Result]:
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args))


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a JSON Lines file of ``count`` generated subjects; ``bad_line`` (1-based) gets a bad IP."""

    def factory(count: int, *, bad_line: int | None = None, name: str = "subjects.jsonl") -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8") as out:
            for number, subject in enumerate(generate_subjects(count, ip_events=2), start=1):
                if number == bad_line:
                    subject["ip_events"][0]["ip"] = "198.51.100.300"
                out.write(json.dumps(subject) + "\n")
        return path

    return factory


@pytest.mark.usefixtures("data_dir")
def test_import_prints_the_count_time_and_rate(run: Callable[..., Result], write_jsonl: Callable[..., Path]) -> None:
    result = run("subjects", "import", str(write_jsonl(25)))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("imported 25 subjects in ")
    assert result.stdout.rstrip().endswith(" subjects/s)")
    assert run("subjects", "count").stdout.strip() == "25"


@pytest.mark.usefixtures("data_dir")
def test_import_with_a_bad_line_exits_2_naming_the_line_and_imports_nothing(
    run: Callable[..., Result], write_jsonl: Callable[..., Path]
) -> None:
    path = write_jsonl(30, bad_line=17)
    result = run("subjects", "import", str(path))
    assert result.exit_code == 2
    assert "line 17: field 'ip_events[0].ip' is not a valid IP address" in result.stderr
    assert f"nothing from {path} was imported" in result.stderr
    assert "198.51.100.300" not in result.output
    assert run("subjects", "count").stdout.strip() == "0"


@pytest.mark.usefixtures("data_dir")
def test_import_reports_bytes_that_are_not_utf8_by_line(run: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    first = json.dumps(next(generate_subjects(1, ip_events=1))).encode()
    path.write_bytes(first + b"\n" + b'{"id": "caf\xe9"}\n')
    result = run("subjects", "import", str(path))
    assert result.exit_code == 2
    assert "line 2: line is not valid UTF-8" in result.stderr


@pytest.mark.usefixtures("data_dir")
def test_import_accepts_a_utf8_byte_order_mark(run: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(next(generate_subjects(1, ip_events=1))).encode() + b"\n")
    result = run("subjects", "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("imported 1 subject in ")


@pytest.mark.usefixtures("data_dir")
def test_import_of_a_missing_file_exits_2_with_a_clear_message(run: Callable[..., Result], tmp_path: Path) -> None:
    result = run("subjects", "import", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
    assert "No such file or directory" in result.stderr


@pytest.mark.usefixtures("data_dir")
def test_import_of_a_directory_exits_2(run: Callable[..., Result], tmp_path: Path) -> None:
    result = run("subjects", "import", str(tmp_path))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_import_before_init_exits_2_saying_to_run_init(
    run: Callable[..., Result], write_jsonl: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "empty"))
    result = run("subjects", "import", str(write_jsonl(1)))
    assert result.exit_code == 2
    assert "gateway init" in result.stderr


@pytest.mark.usefixtures("data_dir")
def test_demo_seed_imports_the_generated_subjects(run: Callable[..., Result]) -> None:
    result = run("demo", "seed", "--subjects", "12", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("imported 12 subjects in ")
    assert run("subjects", "count").stdout.strip() == "12"


@pytest.mark.usefixtures("data_dir")
def test_demo_seed_twice_with_the_same_seed_is_refused_and_imports_nothing(run: Callable[..., Result]) -> None:
    assert run("demo", "seed", "--subjects", "5").exit_code == 0
    result = run("demo", "seed", "--subjects", "5")
    assert result.exit_code == 2
    assert "generated subject 1: field 'id': a subject with this id already exists" in result.stderr
    assert run("subjects", "count").stdout.strip() == "5"


# -- live ingestion (docs/PROTOCOL.md §9.3) ---------------------------------------------------------


def _store_answers(subject_ids: list[str]) -> dict[str, object]:
    """What the store answers for each id, every field over all time (``None``: no such subject)."""
    from datetime import UTC, datetime

    from gateway.keys.keyring import load_gateway_keys
    from gateway.keys.vault import Vault
    from gateway.store.engine import Database
    from gateway.subjects.store import SubjectStore

    config = load_settings()
    db = Database(config.sqlalchemy_url)
    try:
        store = SubjectStore(db, Vault.from_keys(load_gateway_keys(config)))
        window = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        return {i: store.get(i) for i in subject_ids} | {
            f"{i}/ip": store.read_field(i, "ipAddresses", window) for i in subject_ids}
    finally:
        db.dispose()


@pytest.mark.usefixtures("data_dir")
def test_upsert_skips_an_overlong_line_and_one_not_utf8_and_applies_the_others(
        run: Callable[..., Result], tmp_path: Path) -> None:
    from gateway.subjects.parsing import MAX_LINE_CHARS

    subjects = list(generate_subjects(4, seed=21, ip_events=2))
    good = [json.dumps(s).encode() + b"\n" for s in subjects]
    overlong = b'{"id": "' + b"x" * (MAX_LINE_CHARS + 10) + b'"}\n'
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(good[0] + overlong + good[1] + b'{"id": "caf\xe9"}\n' + good[2] + good[3])
    result = run("subjects", "upsert", str(path))
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [f"line 2: line is longer than {MAX_LINE_CHARS} bytes",
                                          "line 4: line is not valid UTF-8"]
    assert result.stdout.startswith("applied 4 lines, rejected 2, in ")
    assert run("subjects", "count").stdout.strip() == "4"
    # Exactly the good lines: the same answers as an all-or-nothing import of them.
    after = _store_answers([s["id"] for s in subjects])
    assert all(after[s["id"]] is not None for s in subjects)


@pytest.mark.usefixtures("data_dir")
def test_append_events_from_standard_input_with_json_output(run: Callable[..., Result], tmp_path: Path) -> None:
    (subject,) = generate_subjects(1, seed=22, ip_events=0)
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(subject) + "\n")
    assert run("subjects", "upsert", str(path)).exit_code == 0
    events = [{"subject": subject["id"], "kind": "ip", "ip": "192.0.2.1", "seen": "2026-12-01T10:00:00Z"},
              {"subject": "sub_unknown", "kind": "ip", "ip": "192.0.2.77", "seen": "2026-12-01T10:00:00Z"},
              {"subject": subject["id"], "kind": "ip", "ip": "192.0.2.2", "port": 80, "seen": "2026-12-01T11:00:00Z"}]
    stdin = "".join(json.dumps(e) + "\n" for e in events)
    result = CliRunner().invoke(cli, ["subjects", "append-events", "--json", "-"], input=stdin)
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert (summary["applied"], summary["rejected"]) == (2, 1) and set(summary) == {"applied", "rejected", "seconds",
                                                                                    "rate"}
    assert [json.loads(line) for line in result.stderr.splitlines()] == [
        {"line": 2, "reason": "field 'subject': no subject has this id"}]
    assert "192.0.2.77" not in result.output and "sub_unknown" not in result.stderr
    found = _store_answers([subject["id"]])[f"{subject['id']}/ip"]
    assert [e["ip"] for e in found] == ["192.0.2.1", "192.0.2.2"]  # type: ignore[attr-defined]


@pytest.mark.usefixtures("data_dir")
def test_delete_of_an_unknown_subject_exits_2_and_changes_nothing(run: Callable[..., Result]) -> None:
    result = run("subjects", "delete", "sub_nobody")
    assert result.exit_code == 2
    assert "no subject has this id" in result.stderr
