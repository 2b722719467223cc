"""CPU time of the `gateway` command's help, the start every operator sees: the help of every
command and group (the tree walked as `gateway` builds it), each run in a fresh process several
times, the child's user + system CPU (``resource.getrusage`` of the children), median printed
beside the 0.3 s target.

    .venv/bin/python bench/bench_cli_start.py [--runs 3] [--only "audit verify"]

CPU, not wall time: on a shared machine the wall clock measures the neighbours; the CPU a start
costs is what importing the server (strawberry, starlette, sqlalchemy, uvicorn) adds, and what
the help must not pay for.

The floor is printed first: the same help of a two-command Typer app with the same Typer and rich,
which is what any command of ours costs before it imports a line of the gateway.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
from typing import Any

TARGET_S = 0.3
_ENTRY = "from gateway.cli.main import run; run()"
_FLOOR = """
import typer
app = typer.Typer(no_args_is_help=True)
group = typer.Typer(help="A group.")
@group.command()
def one(name: str = typer.Option("x", help="A name."), flag: bool = False) -> None:
    "A command."
app.add_typer(group, name="group")
@app.callback()
def root(version: bool = typer.Option(False, "--version", is_eager=True)) -> None:
    "The root."
app()
"""


def cpu_of(args: list[str], entry: str = _ENTRY) -> float:
    """The CPU seconds one `gateway ARGS` took, in a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", entry, *args], check=True, stdout=subprocess.DEVNULL,
                   env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def command_lines() -> list[list[str]]:
    """Every command path of `gateway`, groups first: ``[]``, ``["audit"]``, ``["audit", "verify"]``…"""
    import typer

    from gateway.cli.main import app

    found: list[list[str]] = []

    def walk(command: Any, path: list[str], parent: Any) -> None:  # Typer's own (vendored) click classes
        found.append(path)
        if not hasattr(command, "list_commands"):
            return
        ctx = command.context_class(command, info_name=path[-1] if path else "gateway", parent=parent)
        for name in command.list_commands(ctx):
            # resolve_command, as a command line would: it builds a lazy group (client/cli/group.py).
            _, sub, _ = command.resolve_command(ctx, [name])
            if sub is not None and not sub.hidden:
                walk(sub, [*path, name], ctx)

    walk(typer.main.get_command(app), [], None)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each command line (the median is shown)")
    parser.add_argument("--only", action="append", default=[], help="measure only this command path (repeatable)")
    options = parser.parse_args()
    over = 0
    cpu_of(["group", "--help"], _FLOOR)
    floor = statistics.median(cpu_of(["group", "--help"], _FLOOR) for _ in range(options.runs))
    print(f"{'floor: a bare Typer group --help':<40} {floor * 1000:5.0f} ms CPU  (Typer and rich alone)")
    lines = [line.split() for line in options.only] or command_lines()
    worst = 0.0
    for path in lines:
        args = [*path, "--help"]
        cpu_of(args)  # warm the file cache and the .pyc files
        median = statistics.median(cpu_of(args) for _ in range(options.runs))
        worst = max(worst, median)
        verdict = "ok" if median < TARGET_S else "OVER"
        over += median >= TARGET_S
        print(f"gateway {' '.join(args):<32} {median * 1000:5.0f} ms CPU  (target {TARGET_S * 1000:.0f} ms)  {verdict}")
    print(f"{len(lines)} help pages; the slowest {worst * 1000:.0f} ms CPU (target {TARGET_S * 1000:.0f} ms); "
          f"{over} over")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
