"""Witnesses (c2sp.org/tlog-witness) cosign a growing log; a forked log is refused by them and
flagged by the monitor, which names the sizes. Everything runs in-process through the real HTTP
apps (the gateway's and two witnesses'), with time and scheduling driven by the test."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from starlette.testclient import TestClient

from client.errors import MonitorAlarm
from client.monitor import MonitorConfig, MonitorReport, check_once, follow
from crypto.cosignature import CosignerVerifier, parse_cosigner_key, split_note, verify_cosignatures
from crypto.note import NoteVerifier, parse_checkpoint, parse_verifier_key, verifier_key_string
from crypto.tiles import TileRef, tile_path, tile_width
from gateway.app import create_app
from gateway.audit.checkpoints import log_size, note_name
from gateway.audit.witnessing import SubmitOutcome
from gateway.config import Settings
from gateway.services import Services
from gateway.store.tables import AuditCheckpoint, AuditCosignature, AuditEntry, AuditNode
from gateway.witness.app import create_witness_app
from gateway.witness.service import Answer, Witness, init_witness
from tests.support.audit import event

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_nodes = AuditNode.__table__  # type: ignore[attr-defined]
_checkpoints = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_cosignatures = AuditCosignature.__table__  # type: ignore[attr-defined]


@dataclass
class Deployment:
    services: Services
    client: TestClient
    witnesses: list[Witness]
    log_key: NoteVerifier
    cosigners: list[CosignerVerifier]

    def grow(self, n: int) -> None:
        for _ in range(n):
            self.services.audit.append_sync(event())

    def witnessed_log_of(self, entries: int) -> None:
        """The empty tree's checkpoint and then one of ``entries`` entries, each cosigned by both witnesses."""
        self.checkpoint_and_witness()
        self.grow(entries)
        self.checkpoint_and_witness()

    def size(self) -> int:
        with self.services.db.engine.connect() as connection:
            return log_size(connection)

    def checkpoint_and_witness(self) -> list[object]:
        """One checkpointer tick far enough ahead to be due, then one submission per witness."""
        self.services.checkpointer.tick(self.services.checkpointer.schedule.every_seconds * 1e6)
        self.services.checkpointer.schedule.last_signed_at = None
        return [feeder.submit_latest() for feeder in self.services.witnesses]

    def monitor(self, state: Path, quorum: int = 2) -> MonitorConfig:
        return MonitorConfig(url="http://testserver", log_key=self.log_key, witnesses=self.cosigners, quorum=quorum)


def _witness(tmp_path: Path, name: str, log_vkey: str) -> tuple[Witness, TestClient]:
    state = tmp_path / name.replace("/", "_")
    init_witness(state, name)
    witness = Witness.load(state, [log_vkey])
    return witness, TestClient(create_witness_app(witness, clock=lambda: 1_780_000_000.0),
                               base_url=f"http://{name.split('/')[0]}")


@pytest.fixture
def deployment(make_settings: Callable[..., Settings], database_url: str, tmp_path: Path) -> Iterator[Deployment]:
    from gateway.keys.keyring import load_gateway_keys
    from gateway.maintenance.initialize import initialize

    bare = make_settings(database_url=database_url)
    initialize(bare)
    key = load_gateway_keys(bare).signing_key
    log_vkey = verifier_key_string(note_name(bare.origin), bytes(key.verify_key))
    pairs = [_witness(tmp_path, f"w{i}.test/witness", log_vkey) for i in (1, 2)]
    config = make_settings(database_url=database_url,
                           witnesses=",".join(f"http://w{i}.test {w.vkey}" for i, (w, _) in enumerate(pairs, 1)))
    services = Services.build(config)
    for feeder, (_, client) in zip(services.witnesses, pairs, strict=True):
        feeder.client = client
    # No `with`: the app's lifespan (the background threads) does not run; the test drives them.
    client = TestClient(create_app(config, services=services))
    yield Deployment(services, client, [w for w, _ in pairs], parse_verifier_key(log_vkey),
                     [parse_cosigner_key(w.vkey) for w, _ in pairs])
    services.close()


def served(deployment: Deployment) -> tuple[int, list[str]]:
    """The served checkpoint's size and the witnesses whose cosignatures on it verify."""
    note = deployment.client.get("/audit/checkpoint").text
    text, lines = split_note(note)
    return int(text.splitlines()[1]), sorted(c.name for c in verify_cosignatures(text, lines, deployment.cosigners))


def test_two_witnesses_cosign_a_growing_log_and_the_checkpoint_is_served_with_both(
        deployment: Deployment, tmp_path: Path) -> None:
    names = ["w1.test/witness", "w2.test/witness"]
    discovery = deployment.client.get("/.well-known/disclosure-gateway").json()
    assert discovery["witness_quorum"] == 2
    assert [w["verifier_key"] for w in discovery["witnesses"]] == [c.vkey() for c in deployment.cosigners]
    outcomes = deployment.checkpoint_and_witness()  # the empty tree's checkpoint from `gateway init`
    assert [o.cosigned for o in outcomes] == [0, 0]  # type: ignore[attr-defined]
    assert served(deployment) == (0, names)
    for total in (3, 10, 300):
        deployment.grow(total - deployment.size())
        outcomes = deployment.checkpoint_and_witness()
        assert [o.cosigned for o in outcomes] == [total, total]  # type: ignore[attr-defined]
        assert served(deployment) == (total, names)
        report = check_once(deployment.monitor(tmp_path / "m"), tmp_path / "m", deployment.client, now=0)
        assert (report.size, report.cosigned_by) == (total, names)


def test_until_the_quorum_cosigns_the_last_published_checkpoint_is_served(deployment: Deployment) -> None:
    deployment.checkpoint_and_witness()
    deployment.grow(4)
    deployment.services.checkpointer.tick(1e9)
    deployment.services.witnesses[0].submit_latest()  # only one of the two
    assert served(deployment) == (0, ["w1.test/witness", "w2.test/witness"])
    deployment.services.witnesses[1].submit_latest()
    assert served(deployment)[0] == 4


def fork_below(deployment: Deployment, keep: int) -> None:
    """Rewrite the database below its cosigned size: drop every entry from ``keep`` on, with its
    nodes and checkpoints, and every cosignature (they would betray the rewrite), as an operator
    rewriting history would."""
    with deployment.services.db.engine.begin() as connection:
        connection.execute(delete(_entries).where(_entries.c.idx >= keep))
        for level, index in connection.execute(select(_nodes.c.level, _nodes.c.idx)).all():
            if (index + 1) << level > keep:
                connection.execute(delete(_nodes).where(_nodes.c.level == level, _nodes.c.idx == index))
        connection.execute(delete(_cosignatures))
        connection.execute(delete(_checkpoints).where(_checkpoints.c.tree_size > keep))


def test_a_forked_log_is_refused_by_the_witnesses_and_flagged_by_the_monitor(
        deployment: Deployment, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "monitor"
    deployment.witnessed_log_of(10)
    assert check_once(deployment.monitor(state), state, deployment.client, now=0).size == 10

    fork_below(deployment, 5)
    deployment.grow(7)  # a different history of 12 entries, signed by the log's own key
    outcomes = deployment.checkpoint_and_witness()
    assert [o.status for o in outcomes] == [422, 422]  # type: ignore[attr-defined]
    assert all("tree size 12" in o.problem and "tree size 10" in o.problem for o in outcomes)  # type: ignore[attr-defined]
    assert "ALARM: witness w1.test/witness refused the checkpoint at tree size 12" in caplog.text
    # The witnesses still hold what they cosigned; the gateway cannot get the fork cosigned.
    assert [w.latest(deployment.log_key.name).size for w in deployment.witnesses] == [10, 10]  # type: ignore[union-attr]

    # The monitor flags it twice over: no quorum, and (trusting no witness) no consistency with size 10.
    with pytest.raises(MonitorAlarm, match="tree size 12 has 0 valid witness cosignatures; the quorum is 2"):
        check_once(deployment.monitor(state), state, deployment.client, now=0)
    with pytest.raises(MonitorAlarm, match="tree size 12 is not consistent with the verified checkpoint at "
                                           "tree size 10"):
        check_once(deployment.monitor(state, quorum=0), state, deployment.client, now=0)
    # The alarm repeats: the monitor's state stays at the last verified checkpoint.
    with pytest.raises(MonitorAlarm, match="tree size 10"):
        check_once(deployment.monitor(state, quorum=0), state, deployment.client, now=0)


def test_a_log_rolled_back_below_what_a_witness_cosigned_raises_the_alarm(
        deployment: Deployment, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "monitor"
    deployment.witnessed_log_of(10)
    check_once(deployment.monitor(state), state, deployment.client, now=0)
    fork_below(deployment, 5)
    deployment.grow(2)
    outcomes = deployment.checkpoint_and_witness()
    assert all("cosigned tree size 10, larger than this log's latest checkpoint at size 7" in o.problem  # type: ignore[attr-defined]
               for o in outcomes)
    with pytest.raises(MonitorAlarm, match="tree size 7 after the verified tree size 10"):
        check_once(deployment.monitor(state, quorum=0), state, deployment.client, now=0)


class EarlierTextWitness(Witness):
    """A witness following the earlier text of tlog-witness, which answered an equal size with
    another root with 409 (its body: the size it cosigned) where the current text answers 422."""

    def add_checkpoint(self, body: bytes, now: int) -> Answer:
        answer = super().add_checkpoint(body, now)
        header, note = body.decode().split("\n\n", 1)
        old = int(header.split("\n")[0].removeprefix("old "))
        if answer.status == 422 and old == parse_checkpoint(split_note(note)[0]).size:
            return Answer(409, f"{old}\n", "text/x.tlog.size")
        return answer


def test_every_answer_that_an_equal_size_has_another_root_raises_the_alarm_and_backs_off(
        deployment: Deployment, caplog: pytest.LogCaptureFixture) -> None:
    deployment.witnessed_log_of(10)
    second = deployment.witnesses[1]
    earlier = EarlierTextWitness.load(second.state, [verifier_key_string(deployment.log_key.name,
                                                                         deployment.log_key.public_key)])
    deployment.services.witnesses[1].client = TestClient(create_witness_app(earlier, clock=lambda: 1.78e9),
                                                         base_url="http://w2.test")
    fork_below(deployment, 5)
    deployment.grow(5)  # another tree of size 10, signed by the log's own key
    fork = "has cosigned another tree of size 10 than this log's checkpoint at that size: the log was forked"
    outcomes = deployment.checkpoint_and_witness()
    assert [(o.status, o.problem) for o in outcomes] == [  # type: ignore[attr-defined]
        (422, f"ALARM: witness w1.test/witness {fork}"), (409, f"ALARM: witness w2.test/witness {fork}")]
    assert f"ALARM: witness w2.test/witness {fork}" in caplog.text
    assert all(o.fork for o in outcomes)  # type: ignore[attr-defined]

    # As after a restart, from old size 0: the 409 names 10, and from 10 the same 409 is the alarm.
    feeder = deployment.services.witnesses[1]
    feeder.known_size = 0
    again = feeder.submit_latest()
    assert again is not None and (again.status, again.fork, again.problem) == (409, True, outcomes[1].problem)  # type: ignore[attr-defined]

    # Each round alarms again, and the next waits for a pause that doubles.
    caplog.clear()
    assert [feeder.step() for _ in range(9)] == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 600.0, 600.0]
    assert caplog.text.count(f"ALARM: witness w2.test/witness {fork}") == 9
    assert [w.latest(deployment.log_key.name).size for w in deployment.witnesses] == [10, 10]  # type: ignore[union-attr]


def test_a_refusal_or_an_outage_is_retried_after_a_doubling_pause_that_a_success_resets(
        deployment: Deployment) -> None:
    feeder = deployment.services.witnesses[0]
    down = SubmitOutcome(None, problem="unreachable")
    assert [feeder.pause_after(down) for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert feeder.pause_after(SubmitOutcome(200, cosigned=3)) == 0.0
    assert feeder.pause_after(None) == 0.0  # nothing to submit
    assert feeder.pause_after(down) == 1.0


def test_a_409_naming_a_size_another_gateway_process_had_cosigned_is_no_alarm(
        deployment: Deployment, caplog: pytest.LogCaptureFixture) -> None:
    deployment.witnessed_log_of(10)
    with deployment.services.db.engine.connect() as connection:
        stale = connection.execute(select(_checkpoints.c.note).where(_checkpoints.c.tree_size == 10)).scalar_one()
    deployment.grow(5)
    deployment.checkpoint_and_witness()  # the witnesses now hold 15
    # A second process read the checkpoint at 10 before the one at 15 was stored, and knows no size.
    feeder = deployment.services.witnesses[0]
    feeder.known_size = 0
    outcome = feeder.submit(10, stale)
    assert (outcome.status, outcome.problem, feeder.known_size) == (409, None, 15)
    assert "ALARM" not in caplog.text and not outcome.fork
    assert feeder.submit(10, stale) == SubmitOutcome(None)  # it knows 15 now, and so does the log
    assert "ALARM" not in caplog.text
    # A size larger than any checkpoint the log holds is the rollback alarm still.
    fork_below(deployment, 10)
    rolled_back = feeder.submit(10, stale)
    assert rolled_back.fork and "has cosigned tree size 15, larger than this log's latest checkpoint at size 10" \
        in str(rolled_back.problem)


def test_following_the_log_keeps_checking_after_an_alarm_and_moves_time_instead_of_waiting(
        deployment: Deployment, tmp_path: Path) -> None:
    state = tmp_path / "monitor"
    deployment.witnessed_log_of(10)
    # Between the checks the world changes: the log grows, then is rewritten below what was verified.
    changes = [lambda: (deployment.grow(5), deployment.checkpoint_and_witness()),
               lambda: (fork_below(deployment, 5), deployment.grow(12), deployment.checkpoint_and_witness()),
               lambda: None]
    slept: list[float] = []
    now = [1_780_000_000.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        changes[len(slept) - 1]()

    reports: list[MonitorReport] = []
    alarms: list[str] = []
    summary = follow(deployment.monitor(state, quorum=0), state, deployment.client, clock=lambda: now[0],
                     sleep=sleep, interval=30.0, checks=4, on_report=reports.append,
                     on_alarm=lambda exc: alarms.append(str(exc)), on_error=lambda exc: pytest.fail(str(exc)))
    assert [(r.previous_size, r.size) for r in reports] == [(None, 10), (10, 15)]
    assert len(alarms) == 2  # the fork, and the same alarm again: the state stays at tree size 15
    assert all("tree size 17 is not consistent with the verified checkpoint at tree size 15" in a for a in alarms)
    assert (summary.checks, summary.alarms, summary.errors) == (4, 2, 0)
    assert slept == [30.0, 30.0, 30.0]  # between checks only, never after the last


GO_PROGRAM = Path(__file__).resolve().parents[2] / "assets" / "go" / "tlogcheck" / "main.go"


@pytest.fixture(scope="session")
def tlogcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go verifier, built against Debian's golang.org/x/mod (installed by .ci/run)."""
    if shutil.which("go") is None or not Path("/usr/share/gocode/src/golang.org/x/mod/sumdb/tlog").is_dir():
        pytest.skip("needs golang-go and golang-golang-x-mod-dev (.ci/run installs them)")
    out = tmp_path_factory.mktemp("go")
    env = {"PATH": os.environ["PATH"], "HOME": str(out), "GO111MODULE": "off", "GOPATH": "/usr/share/gocode",
           "GOPROXY": "off", "CGO_ENABLED": "0", "GOCACHE": str(out / "cache"), "GOFLAGS": ""}
    subprocess.run(["go", "build", "-o", str(out / "tlogcheck"), str(GO_PROGRAM)], env=env, check=True,
                   capture_output=True, timeout=300)
    return out / "tlogcheck"


def mirror(deployment: Deployment, target: Path) -> int:
    """Copy the served checkpoint and every hash tile of its tree into ``target``, laid out as the
    URLs name them: what a static mirror of the log holds."""
    note = deployment.client.get("/audit/checkpoint").text
    (target / "tile").mkdir(parents=True)
    (target / "checkpoint").write_text(note, encoding="utf-8")
    size = int(note.splitlines()[1])
    level = 0
    while tile_width(level, 0, size):
        index = 0
        while (width := tile_width(level, index, size)) > 0:
            path = tile_path(TileRef(level, index, width))
            response = deployment.client.get(f"/audit/tile/{path}")
            assert response.status_code == 200, path
            (target / "tile" / path).parent.mkdir(parents=True, exist_ok=True)
            (target / "tile" / path).write_bytes(response.content)
            index += 1
        level += 1
    return size


def test_go_verifies_the_cosigned_checkpoint_and_the_tiles(deployment: Deployment, tmp_path: Path,
                                                          tlogcheck: Path) -> None:
    deployment.checkpoint_and_witness()
    deployment.grow(601)
    deployment.checkpoint_and_witness()
    assert mirror(deployment, tmp_path / "log") == 601  # two full level-0 tiles, one partial; level 1 partial
    args = [str(tlogcheck), "-dir", str(tmp_path / "log"), "-log", verifier_key_string(
        deployment.log_key.name, deployment.log_key.public_key),
        "-witnesses", ",".join(c.vkey() for c in deployment.cosigners), "-quorum", "2"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok size 601 cosigned 2\n", "")

    # It can fail: one changed hash in a tile, or one changed byte of a cosignature, is refused.
    tile = tmp_path / "log" / "tile" / "0" / "001"
    original = tile.read_bytes()
    tile.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
    refused = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and refused.stdout == "" and refused.stderr
    tile.write_bytes(original)
    note = (tmp_path / "log" / "checkpoint").read_text(encoding="utf-8")
    last = note.rstrip("\n").split("\n")[-1]
    flipped = last[:-6] + ("A" if last[-6] != "A" else "B") + last[-5:]
    (tmp_path / "log" / "checkpoint").write_text(note.replace(last, flipped), encoding="utf-8")
    refused = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "does not verify" in refused.stderr


def test_checks_without_follow_is_refused_before_anything_is_fetched(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gateway.cli.main import app

    result = CliRunner().invoke(app, ["audit", "monitor", "http://127.0.0.1:9", "--state", str(tmp_path),
                                      "--log-key", "unused", "--checks", "2"])
    assert result.exit_code == 2
    assert "--checks counts the checks of --follow" in result.output
