"""The repository stands on its own: a clone with nothing beside it has its contract and vectors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.fail("this test reads the tracked files with git; run it from a git checkout", pytrace=False)
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / name for name in listing.decode().split("\0") if name]


def test_no_tracked_file_refers_to_a_folder_beside_the_repository() -> None:
    needle = "../" + "shared"  # spelled in two parts so this file does not match itself
    offenders = []
    for path in tracked_files():
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{path.relative_to(REPO)}:{n}" for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert offenders == []


def test_the_contract_and_the_vectors_are_in_the_repository() -> None:
    protocol = (REPO / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    for heading in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6.", "## 7.", "## 8.", "## 9."):
        assert heading in protocol, heading
    vectors = REPO / "tests" / "assets" / "vectors"
    assert (vectors / "merkle" / "LICENSE.transparency-dev").is_file()
    assert len(list((vectors / "merkle" / "inclusion").rglob("*.json"))) > 50
    assert len(list((vectors / "merkle" / "consistency").rglob("*.json"))) > 50
    for name in ("ed25519_rfc8032.json", "signed_note.json", "merkle/tree_heads.json", "README.md"):
        assert (vectors / name).is_file(), name


def _fields_after(command: str, text: str) -> set[str]:
    """The ``--fields`` value of the README line that starts ``command`` (continuation lines joined)."""
    joined = text.replace("\\\n", " ")
    line = next(line for line in joined.splitlines() if line.strip().startswith(command))
    words = line.split()
    return set(words[words.index("--fields") + 1].split(","))


def test_the_readme_examples_agree_with_each_other_and_with_the_example_subjects() -> None:
    from gateway.subjects.normalise import normalise_phone
    from gateway.subjects.parsing import parse_subject

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lines = (REPO / "examples" / "subjects.jsonl").read_text(encoding="utf-8").splitlines()
    subjects = [parse_subject(json.loads(line), number) for number, line in enumerate(lines, 1)]
    assert len(subjects) == 12
    asked = _fields_after("gateway query", readme)
    assert asked <= _fields_after("gateway review draft", readme) <= _fields_after("gateway request submit", readme)
    phones = {normalise_phone(json.loads(line)["phone"]) for line in lines}
    for command in ("gateway request submit", "gateway query"):
        joined = readme.replace("\\\n", " ")
        line = next(line for line in joined.splitlines() if line.strip().startswith(command))
        words = line.split()
        phone = words[words.index("--phone") + 1].strip('"')
        assert normalise_phone(phone) in phones, f"{command} names a phone number that is not in examples/"
    assert "source .venv/bin/activate" in readme
    assert "examples/subjects.jsonl" in readme


def _written_by_readme(readme: str) -> set[str]:
    """The relative paths the README's commands write: ``--out`` files (keygen's: PREFIX.sign.key and
    PREFIX.seal.key) and ``--state`` directories."""
    joined = readme.replace("\\\n", " ")
    found: set[str] = set()
    for line in joined.splitlines():
        words = line.split()
        for at, word in enumerate(words[:-1]):
            path = words[at + 1].strip('"').removeprefix("./")
            if word not in ("--out", "--state") or path.startswith(("$", "<", "/")):
                continue
            if word == "--state":
                found.add(path + "/")
            elif "keygen" in words:
                found |= {f"{path}.sign.key", f"{path}.seal.key"}
            else:
                found.add(path)
    return found


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_gitignore_covers_what_the_readme_examples_write() -> None:
    written = _written_by_readme((REPO / "README.md").read_text(encoding="utf-8"))
    assert {"keys/bka.sign.key", "proof.json", "entries.jsonl", "reports/2026-H2", "monitor/", "w1/",
            "keys.age"} <= written
    checked = subprocess.run(["git", "check-ignore", "--no-index", "--stdin", "-v", "-n"], cwd=REPO, text=True,
                             input="\n".join(sorted(written)) + "\n", capture_output=True, check=False)
    unignored = [line.split("\t", 1)[1] for line in checked.stdout.splitlines() if line.startswith("::")]
    assert unignored == [], f"the README's examples write files .gitignore does not cover: {unignored}"
