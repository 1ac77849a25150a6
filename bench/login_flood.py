"""Login flood: `GET /api/v1/flows` latency while 100 clients send wrong passwords at once, beside the same
measurement with no flood, and the server's peak memory.

The real server (``signoff serve``, one process, SQLite) on the example project of ``signoff init``, on a loopback
port. In each run, a prober sends ``GET /api/v1/flows`` with a bearer token one request after another (10 ms apart)
for ``--seconds``: first alone (the baseline), then while a flood process keeps ``--clients`` wrong logins in
flight (``POST /login``, each with its own CSRF token pair, at most ``--logins`` in all and no longer than the
probe). Two runs, each on a fresh server:

- ``throttled``: the server's default limits. The flood comes from one address at one real user and at unknown
  names: after 20 failures the address is blocked, and every later try is refused (429) before any hashing.
- ``hashing only``: throttling off (``SIGNOFF_LOGIN_ADDRESS_TRIES`` and ``SIGNOFF_LOGIN_ACCOUNT_TRIES`` very high),
  as from an attacker with many addresses: the bounded pool of hashing threads is the only defence, so every
  login waits its turn or is refused (503) after ``SIGNOFF_LOGIN_WAIT_SECONDS``.

Peak RSS is the server process's high-water mark (``VmHWM``) after the baseline and after the flood. Target: flows
p99 < 100 ms under the flood. Run: ``make bench-login`` or ``.venv/bin/python bench/login_flood.py``. It prints
numbers and verdicts; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

SIGNOFF = str(Path(sys.executable).parent / "signoff")
TARGET_P99_MS = 100.0
console = Console() if sys.stdout.isatty() else Console(width=160)
RUNS = {
    "throttled": {},
    "hashing only": {"SIGNOFF_LOGIN_ADDRESS_TRIES": "1000000000", "SIGNOFF_LOGIN_ACCOUNT_TRIES": "1000000000"},
}


def run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([SIGNOFF, *args], env=env, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603  # our own command
    if done.returncode != 0:
        raise SystemExit(f"signoff {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(project: Path, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``signoff serve`` on a free loopback port: its URL and process id, once /healthz answers."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603  # our own command
        [SIGNOFF, "serve", "--host", "127.0.0.1", "--port", str(port), "--project", str(project)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit("signoff serve exited early")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("signoff serve did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def probe(url: str, token: str, seconds: float) -> list[float]:
    """``GET /api/v1/flows`` one after another for ``seconds``: each request's wall time in ms."""
    times = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = http.get("/api/v1/flows")
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"GET /api/v1/flows answered {response.status_code}: {response.text[:200]}")
            time.sleep(0.01)
    return times


async def _flood(url: str, clients: int, logins: int, seconds: float, names: list[str]) -> Counter[int]:
    statuses: Counter[int] = Counter()
    sent = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

        async def client(i: int) -> None:
            nonlocal sent
            while sent < logins and time.monotonic() < deadline:
                sent += 1
                token = secrets.token_urlsafe(16)  # the login form's CSRF pair: cookie and field alike
                form = {"csrf_token": token, "name": names[i % len(names)], "password": f"wrong guess {sent}"}
                try:
                    response = await http.post("/login", data=form, headers={"Cookie": f"signoff-login={token}"})
                    statuses[response.status_code] += 1
                except httpx.TransportError:
                    statuses[0] += 1

        await asyncio.gather(*(client(i) for i in range(clients)))
    return statuses


def flood(url: str, clients: int, logins: int, seconds: float, names: list[str], out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(dict(asyncio.run(_flood(url, clients, logins, seconds, names))))


@dataclass
class Result:
    name: str
    times: list[float]
    peak_mib: float
    logins: Counter[int]
    seconds: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(project: Path, env: dict[str, str], token: str, args: argparse.Namespace, run_name: str) -> list[Result]:
    names = ["alice"] + [f"nobody-{i}" for i in range(args.clients - 1)]
    with server(project, env | RUNS[run_name]) as (url, pid):
        probe(url, token, 1.0)  # warm up
        baseline = Result(f"{run_name}: no flood", probe(url, token, args.seconds), peak_rss_mib(pid), Counter(), 0)
        queue: multiprocessing.Queue[dict[int, int]] = multiprocessing.get_context("spawn").Queue()
        worker = multiprocessing.get_context("spawn").Process(
            target=flood, args=(url, args.clients, args.logins, args.seconds, names, queue)
        )
        started = time.monotonic()
        worker.start()
        time.sleep(0.5)  # the flood process starts and its clients are in flight
        times = probe(url, token, args.seconds)
        statuses = Counter(queue.get(timeout=120))
        worker.join(timeout=60)
        flooded = Result(
            f"{run_name}: {args.clients} logins at once", times, peak_rss_mib(pid), statuses, time.monotonic() - started
        )
    return [baseline, flooded]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100, help="wrong logins in flight at once")
    parser.add_argument("--logins", type=int, default=20_000, help="most wrong logins sent in a run")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each measurement lasts")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")} | {"COLUMNS": "200"}
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="signoff-login-flood-") as folder:
        with console.status("Writing the example project..."):
            run("init", f"{folder}/project", env=env)
            project = Path(folder) / "project" / "signoff.yaml"
            run("db", "upgrade", "-p", str(project), env=env)
            run("users", "add", "alice", "--role", "reviewer", "-p", str(project), env=env)
            run("users", "password", "alice", "--generate", "-p", str(project), env=env)
            token = run("users", "add", "prober", "--role", "reviewer", "-p", str(project), env=env).split()[-1]
        for run_name in RUNS:
            with console.status(f"Measuring: {run_name}..."):
                results.extend(measure(project, env, token, args, run_name))
    table = Table(
        title=f"GET /api/v1/flows beside {args.clients} concurrent wrong logins (SQLite, {os.cpu_count()} CPUs)"
    )
    for column in ("run", "probes", "p50 ms", "p99 ms", "max ms", "logins (status: count)", "logins/s", "peak RSS MiB"):
        table.add_column(column, justify="left" if column in ("run", "logins (status: count)") else "right")
    table.add_column("p99 < 100 ms")
    for r in results:
        answered = ", ".join(f"{status}: {count}" for status, count in sorted(r.logins.items())) or "-"
        rate = f"{sum(r.logins.values()) / r.seconds:.0f}" if r.seconds else "-"
        p99 = percentile(r.times, 99)
        table.add_row(
            r.name,
            str(len(r.times)),
            f"{percentile(r.times, 50):.1f}",
            f"{p99:.1f}",
            f"{max(r.times):.1f}",
            answered,
            rate,
            f"{r.peak_mib:.0f}",
            "[green]met[/]" if p99 < TARGET_P99_MS else "[red]missed[/]",
        )
    console.print(table)


if __name__ == "__main__":
    main()
