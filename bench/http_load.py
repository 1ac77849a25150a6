"""HTTP intake under load: ``POST /api/v1/flows/{flow}/cases`` from 16 clients, one case and batches of 1,000,
beside a bare FastAPI endpoint that parses the same bodies, served the same way, in the same run.

- Signoff: the real server, ``signoff serve`` (``--workers N``), on the example project of ``signoff init`` (flow
  ``credit-approval``, its scikit-learn model, its policy), with an ``intake`` user's API token. Every case
  carries an external id never sent before, so each one is validated, scored, routed, recorded and audited: no
  request is an idempotent replay.
- Bare: ``bench/bare_intake.py``, a FastAPI app whose endpoint parses the same body into the same Pydantic shape and
  answers a fixed result per case; served by uvicorn with ``signoff serve``'s options (the same worker count, log
  level, proxy headers and health-check timeout).
- Load: wrk (``bench/http_load.lua`` sets method, body and a fresh external id per case), ``--connections`` (16)
  over 2 threads, for ``--seconds`` (20) with one case per request and ``--batch-seconds`` (60) with batches,
  after a short warm-up; each window starts once the server is idle. The bodies are the rows of the example's
  ``credit-cases.csv`` in turn.

Configurations, each on a fresh database: SQLite with one server process; PostgreSQL (a database of its own on
``--postgres-url``, dropped afterwards) with one server process, and with each of ``--workers`` (default 2 and 4).

Per target and body: requests answered in the window, requests/s and cases/s (answers / window), p50/p99 latency
(wrk's, over the answers), the server's CPU time per request and per case (user + system of the server process and
its children, read from /proc before and after the window, so it includes the server's background work), requests
answered with an error, the machine's load average as the window ended, and Signoff's rate over the bare
endpoint's. Floors: single-case POSTs at least 500/s with
p99 under 50 ms and at least half the bare rate; batches of 1,000 at least 10,000 cases/s.

wrk keeps 16 requests in flight, so up to 16 are cut off when a window ends: their server work up to then is in the
CPU time but they are not counted, and the first answers come only after the first requests' latency. With slow
batches (seconds each, worked on together) a window holds few answers, so the batch windows are longer.
PostgreSQL's own CPU is not in the server's: it is another program.

Needs wrk: ``apt-get install wrk`` (Debian, Ubuntu) or ``brew install wrk``. Run: ``make bench-http`` or
``.venv/bin/python bench/http_load.py`` (about 13 minutes), ``--quick`` for a smoke run (3 s windows). It prints
numbers and verdicts; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]  # the review bench's databases; the tests' server process

from review_queue import DEFAULT_POSTGRES, database  # noqa: E402

from helpers.processes import ServerProcess, environment, signoff  # noqa: E402

FLOW = "credit-approval"
PATH = f"/api/v1/flows/{FLOW}/cases"
LUA = HERE / "http_load.lua"
FLOOR_RATE = 500.0
FLOOR_P99_MS = 50.0
FLOOR_RATIO = 0.5
FLOOR_BATCH_CASES = 10_000.0
console = Console() if sys.stdout.isatty() else Console(width=200)


class BareServer(ServerProcess):
    """``bench/bare_intake.py`` served by uvicorn as ``signoff serve`` serves Signoff (its options)."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            *("-m", "uvicorn", "bare_intake:app", "--app-dir", str(HERE), "--host", "127.0.0.1"),
            *("--port", str(self.port), "--log-level", "info", "--proxy-headers"),
            *("--forwarded-allow-ips", "127.0.0.1", "--timeout-worker-healthcheck", "30", *self.options),
        ]


@dataclass
class Load:
    config: str
    target: str
    size: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_seconds: float
    load: float  # the machine's 1-minute load average as the window ended

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def cpu_ms(self, per_case: bool) -> float:
        return 1000 * self.cpu_seconds / max(1, self.requests * (self.size if per_case else 1))


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of process ``root`` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            parents[int(entry.name)], times[int(entry.name)] = int(stat[1]), int(stat[11]) + int(stat[12])
    tree, grew = {root}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    return sum(times.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, limit: float = 600) -> None:
    """Wait until the server is idle (under 10% of a core for half a second): the requests a window cut off finish
    before the next window starts or the server is stopped."""
    deadline, last = time.monotonic() + limit, tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = tree_cpu_seconds(pid)
        if now - last < 0.05:
            return
        last = now


def wrk(url: str, token: str, seconds: int, size: int, prefix: str, bodies: Path, connections: int) -> dict[str, int]:
    """One wrk window: the numbers its Lua ``done`` prints."""
    command = [
        *("wrk", "--threads", "2", "--connections", str(connections), "--duration", f"{seconds}s", "--timeout", "300s"),
        *("--script", str(LUA), "--header", f"Authorization: Bearer {token}", f"{url}{PATH}"),
        *("--", prefix, str(bodies), str(size)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 600, check=False)  # noqa: S603
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    numbers: dict[str, int] = json.loads(lines[-1])
    return numbers


def first_request(url: str, token: str, bodies: Path) -> None:
    """One case by hand before the load: a refused request would otherwise only show as a count of errors."""
    fields = json.loads(bodies.read_text().splitlines()[0])
    answer = httpx.post(
        f"{url}{PATH}", json={"fields": fields}, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    if answer.status_code != 201:
        raise SystemExit(f"POST {PATH} answered {answer.status_code}: {answer.text[:500]}")


def measure(
    server: ServerProcess, config: str, target: str, token: str, bodies: Path, args: argparse.Namespace
) -> list[Load]:
    server.start(timeout=120)
    assert server.process is not None
    pid = server.process.pid
    try:
        first_request(server.url, token, bodies)
        wrk(server.url, token, args.warmup, 1, f"{target}-warm", bodies, args.connections)
        loads = []
        for size, seconds in ((1, args.seconds), (args.batch, args.batch_seconds)):
            settle(pid)
            before = tree_cpu_seconds(pid)
            found = wrk(server.url, token, seconds, size, f"{target}-{size}", bodies, args.connections)
            cpu = tree_cpu_seconds(pid) - before
            load = Load(
                config,
                target,
                size,
                found["requests"],
                found["duration_us"] / 1e6,
                found["p50_us"] / 1000,
                found["p99_us"] / 1000,
                found["status_errors"] + found["socket_errors"],
                cpu,
                os.getloadavg()[0],
            )
            console.print(
                f"{config}, {target}, {size} case(s)/request: {load.rate:,.1f} requests/s, p99 {load.p99_ms:,.1f} ms, "
                f"{load.cpu_ms(per_case=False):,.2f} ms CPU/request, {load.errors} errors, load average {load.load:.1f}"
            )
            loads.append(load)
        settle(pid)
        return loads
    finally:
        server.stop(timeout=600)  # the final seal of a loaded run's backlog takes a while on a busy machine


def configuration(backend: str, workers: int, project: Path, bodies: Path, args: argparse.Namespace) -> list[Load]:
    """Signoff and the bare endpoint with ``workers`` server processes each, Signoff on a fresh database."""
    config = f"{backend}, {workers} process{'es' if workers > 1 else ''}"
    with (
        tempfile.TemporaryDirectory(prefix="signoff-http-load-") as folder,
        database(backend, Path(folder), args.postgres_url, "http") as url,
    ):
        env = environment(url)
        for command in (["db", "upgrade"], ["users", "add", "loader", "--role", "intake"]):
            done = signoff(*command, "-p", str(project), env=env)
            if done.returncode != 0:
                raise SystemExit(f"signoff {' '.join(command)} failed:\n{done.stderr}")
        token = done.stdout.split()[-1]
        options = ("--workers", str(workers))
        log = Path(folder) / "server.log"
        loads = []
        for target, server in (
            ("signoff", ServerProcess(project, env, log, options=options)),
            ("bare", BareServer(project, env, log, options=options)),
        ):
            with console.status(f"{config}: {target}..."):
                loads += measure(server, config, target, token, bodies, args)
        return loads


def table(loads: list[Load], args: argparse.Namespace) -> Table:
    shown = Table(
        title=f"POST {PATH} from {args.connections} clients, windows of {args.seconds} s (one case) and "
        f"{args.batch_seconds} s (batches); wrk; {os.cpu_count()} CPUs"
    )
    for column in (
        "configuration",
        "target",
        "cases/request",
        "requests",
        "requests/s",
        "cases/s",
        "p50 ms",
        "p99 ms",
        "server CPU ms/request",
        "ms/case",
        "errors",
        "load",
        "Signoff / bare",
        "floor",
    ):
        shown.add_column(column, justify="left" if column in ("configuration", "target", "floor") else "right")
    bare = {(load.config, load.size): load for load in loads if load.target == "bare"}
    for load in loads:
        peer = bare[load.config, load.size]
        ratio = load.rate / peer.rate if peer.requests else float("nan")
        if load.target == "bare":
            verdict = ""
        elif load.size == 1:
            met = load.rate >= FLOOR_RATE and load.p99_ms < FLOOR_P99_MS and ratio >= FLOOR_RATIO
            verdict = "[green]met[/]" if met else "[red]missed[/]"
        else:
            verdict = "[green]met[/]" if load.rate * load.size >= FLOOR_BATCH_CASES else "[red]missed[/]"
        shown.add_row(
            load.config,
            load.target,
            f"{load.size:,}",
            f"{load.requests:,}",
            f"{load.rate:,.1f}",
            f"{load.rate * load.size:,.0f}",
            f"{load.p50_ms:,.1f}",
            f"{load.p99_ms:,.1f}",
            f"{load.cpu_ms(per_case=False):,.2f}",
            f"{load.cpu_ms(per_case=True):,.3f}",
            str(load.errors),
            f"{load.load:.1f}",
            f"{ratio:.3f}" if load.target == "signoff" else "",
            verdict,
        )
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20, help="length of each single-case window")
    parser.add_argument("--batch-seconds", type=int, default=60, help="length of each batch window")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of single-case load before measuring")
    parser.add_argument("--connections", type=int, default=16, help="clients, each with one request in flight")
    parser.add_argument("--batch", type=int, default=1000, help="cases per batch request")
    parser.add_argument(
        "--workers", default="2,4", help="server process counts to run on PostgreSQL beyond one (comma-separated)"
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=os.environ.get("SIGNOFF_BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 s windows, 1 s warm-up")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.batch_seconds, args.warmup = 3, 3, 1
    if shutil.which("wrk") is None:
        raise SystemExit(
            "bench/http_load.py needs wrk, the HTTP load generator: apt-get install wrk (Debian, Ubuntu), "
            "brew install wrk (macOS), or build it from https://github.com/wg/wrk"
        )
    configs = [("sqlite", 1)] if args.only != "postgresql" else []
    if args.only != "sqlite":
        configs += [("postgresql", n) for n in [1, *(int(w) for w in args.workers.split(",") if w.strip())]]
    loads: list[Load] = []
    with tempfile.TemporaryDirectory(prefix="signoff-http-load-") as folder:
        with console.status("Writing the example project..."):
            done = signoff("init", f"{folder}/project", env=environment())
            if done.returncode != 0:
                raise SystemExit(f"signoff init failed:\n{done.stderr}")
        project = Path(folder) / "project" / "signoff.yaml"
        cases = pd.read_csv(project.parent / "credit-cases.csv").drop(columns="external_id")
        bodies = Path(folder) / "fields.jsonl"
        cases.to_json(bodies, orient="records", lines=True)
        for backend, workers in configs:
            loads += configuration(backend, workers, project, bodies, args)
    console.print(table(loads, args))
    console.print(
        f"Floors: one case per request at least {FLOOR_RATE:.0f}/s, p99 under {FLOOR_P99_MS:.0f} ms and at least "
        f"{FLOOR_RATIO:.0%} of the bare rate; batches of {args.batch:,} at least {FLOOR_BATCH_CASES:,.0f} cases/s."
    )


if __name__ == "__main__":
    main()
