"""Running the real ``signoff`` command and server as subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

SIGNOFF = str(Path(sys.executable).parent / "signoff")
TESTS = str(Path(__file__).resolve().parent.parent)


def environment(database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    env["PYTHONPATH"] = TESTS  # so flow files may name test models by entry point
    env["COLUMNS"] = "200"  # keep Rich from wrapping messages the tests read
    if database_url is not None:
        env["SIGNOFF_DATABASE_URL"] = database_url
    return env


def signoff(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIGNOFF, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def ingested_example(tmp_path: Path, env: dict[str, str]) -> str:
    """``signoff init`` in tmp_path/project, its schema, its cases ingested: the project file's path."""
    folder = tmp_path / "project"
    assert signoff("init", str(folder), env=env).returncode == 0
    project = str(folder / "signoff.yaml")
    assert signoff("db", "upgrade", "-p", project, env=env).returncode == 0
    ingested = signoff("ingest", "credit-approval", str(folder / "credit-cases.csv"), "-p", project, env=env)
    assert ingested.returncode == 0, ingested.stderr
    return project


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """``signoff serve`` as a real process on one port, which may be killed and started again on it.

    Its output goes to ``log`` (a pipe nobody reads would fill with access-log lines and stall the server)."""

    def __init__(
        self, project: Path, env: dict[str, str], log: Path, port: int | None = None, options: Sequence[str] = ()
    ) -> None:
        self.project, self.env, self.log, self.options = project, env, log, tuple(options)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        """Start the server and return once /healthz answers (killing it if it does not)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command(),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_healthy(self.process, time.monotonic() + timeout)
        except BaseException:
            self.kill()
            raise

    def command(self) -> list[str]:
        """What is started: `signoff serve` on this port; a subclass may serve another app the same way."""
        return [SIGNOFF, "serve", "--port", str(self.port), "--project", str(self.project), *self.options]

    def _wait_healthy(self, process: subprocess.Popen[bytes], deadline: float) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited early:\n{self.log.read_text(errors='replace')}")
                with suppress(httpx.TransportError):
                    if client.get("/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer /healthz in time; its output is in {self.log}")
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final seal, whatever was in flight is cut off."""
        self._end(signal.SIGKILL)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM: the server finishes its requests and seals what committed (within ``timeout`` seconds)."""
        self._end(signal.SIGTERM, timeout)

    def _end(self, how: signal.Signals, timeout: float = 30) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(how)
            self.process.wait(timeout=timeout)
        self.process = None


@contextmanager
def server(project: Path, env: dict[str, str], *options: str) -> Iterator[httpx.Client]:
    """``signoff serve`` on a free port (with ``options``); yields a client once /healthz answers, stops it with
    SIGTERM."""
    process = ServerProcess(project, env, project.parent / "serve.log", options=options)
    process.start()
    try:
        with httpx.Client(base_url=process.url, timeout=30) as client:
            yield client
    finally:
        process.stop()


def server_processes(supervisor: int) -> set[int]:
    """The server processes of `signoff serve --workers N` (Linux /proc): the supervisor's children but
    multiprocessing's resource tracker."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text(encoding="ascii").split()
    found = set()
    for pid in children:
        with suppress(OSError):
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(int(pid))
    return found


def accepted_connections(pids: set[int], port: int) -> dict[int, int]:
    """How many established TCP connections to ``port`` each process holds (Linux /proc): which of the server
    processes sharing one listening socket accepted the clients' connections."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text(encoding="ascii").splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    established.add(fields[9])
    counts = {}
    for pid in pids:
        sockets = set()
        with suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with suppress(OSError):
                    target = str(fd.readlink())
                    if target.startswith("socket:["):
                        sockets.add(target[8:-1])
        counts[pid] = len(sockets & established)
    return counts
