"""A real gateway on loopback for end-to-end tests: free ports, a clean environment, `gateway serve`
in a child process, and the `gateway` command run as a subprocess with a time limit."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

REPO = Path(__file__).resolve().parents[2]
# The installed entry point when there is one (the honest way in); else the same app through Python.
_SCRIPT = Path(sys.executable).parent / "gateway"
GATEWAY = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from gateway.cli.main import run; run()"]
GATEWAY_CLI = GATEWAY


# Ports a test hands to a server it starts come from a block of this worker's own (pytest-xdist runs
# several), below the kernel's ephemeral range (32768 on): the kernel never gives them to an outgoing
# connection, and no other worker hands them out, so a port probed free here is still free when the
# server binds it a moment later. Each is probed by binding it, and never handed out twice.
_PORTS_PER_WORKER = 400
_FIRST_PORT = 21000


def _worker_ports() -> Iterator[int]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = _FIRST_PORT + _PORTS_PER_WORKER * (int(worker) if worker.isdigit() else 0)
    return iter(range(first, first + _PORTS_PER_WORKER))


_ports = _worker_ports()


def free_port() -> int:
    """A loopback port nothing listens on, that no other test (in this worker or another) is given."""
    for port in _ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"this test worker used all of its {_PORTS_PER_WORKER} ports")


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any GATEWAY_ setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(values)
    return env


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


def run(command: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 60) -> Finished:
    """Run ``command`` in a session of its own; on timeout, kill the whole session (a `demo run`
    leaves a server child behind otherwise) and fail."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(f"{command[-3:]} took more than {timeout} s\n{stdout}\n{stderr}") from None
    return Finished(process.returncode, stdout, stderr)


def launch_serve(env: dict[str, str], cwd: Path, port: int, output: IO[bytes], args: Sequence[str] = (), *,
                 command: Sequence[str] = GATEWAY, new_session: bool = True) -> subprocess.Popen[bytes]:
    """`gateway serve` on 127.0.0.1:``port`` with ``args``, writing to ``output``."""
    return subprocess.Popen([*command, "serve", "--host", "127.0.0.1", "--port", str(port), *args], env=env,
                            cwd=cwd, stdout=output, stderr=subprocess.STDOUT, start_new_session=new_session)


def wait_until_up(server: subprocess.Popen[bytes], url: str, log: Path, *, within: float, path: str = "/readyz",
                  tls: ssl.SSLContext | None = None) -> None:
    """Return once ``url + path`` answers 200 (over HTTPS, trusting ``tls``, when given); fail if the
    server exits first or does not answer within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        assert server.poll() is None, f"gateway serve exited early ({server.returncode}):\n{log.read_text()}"
        assert time.monotonic() < deadline, f"gateway serve not ready in {within} s:\n{log.read_text()}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}{path}", timeout=1, verify=tls or True).status_code == 200:
                return
        time.sleep(0.1)


@contextlib.contextmanager
def serving(env: dict[str, str], cwd: Path, port: int, log: Path, *, ready_within: float = 30,
            args: Sequence[str] = (), tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """`gateway serve` on 127.0.0.1:``port`` with ``args``, its output in ``log``; yields the base URL
    once /readyz answers (over HTTPS, trusting ``tls``, when given), and stops the server (SIGTERM,
    then SIGKILL) on the way out."""
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    with log.open("wb") as output:
        server = launch_serve(env, cwd, port, output, args)
        try:
            wait_until_up(server, url, log, within=ready_within, tls=tls)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=5)
