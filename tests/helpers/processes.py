"""Running the real ``signoff`` command and server as subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def server(project: Path, env: dict[str, str], *options: str) -> Iterator[httpx.Client]:
    """``signoff serve`` on a free port (with ``options``); yields a client once /healthz answers, stops it with
    SIGTERM."""
    port = free_port()
    process = subprocess.Popen(
        [SIGNOFF, "serve", "--port", str(port), "--project", str(project), *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"signoff serve exited early:\n{process.stdout.read() if process.stdout else ''}")
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("signoff serve did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()
