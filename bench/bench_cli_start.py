"""CPU time of the `gateway` command's help, the start every operator sees: each command line run
in a fresh process several times, the child's user + system CPU (``resource.getrusage`` of the
children), median printed beside the 0.3 s target.

    .venv/bin/python bench/bench_cli_start.py [--runs 7]

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

TARGET_S = 0.3
COMMANDS = (["--help"], ["audit", "--help"], ["review", "--help"], ["serve", "--help"], ["principals", "--help"])
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command line (the median is shown)")
    options = parser.parse_args()
    over = 0
    cpu_of(["group", "--help"], _FLOOR)
    floor = statistics.median(cpu_of(["group", "--help"], _FLOOR) for _ in range(options.runs))
    print(f"{'floor: a bare Typer group --help':<30} {floor * 1000:7.0f} ms CPU  (Typer and rich alone)")
    for args in COMMANDS:
        cpu_of(args)  # warm the file cache and the .pyc files
        median = statistics.median(cpu_of(args) for _ in range(options.runs))
        verdict = "ok" if median < TARGET_S else "OVER"
        over += median >= TARGET_S
        print(f"gateway {' '.join(args):<22} {median * 1000:7.0f} ms CPU  (target {TARGET_S * 1000:.0f} ms)  {verdict}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
