"""The image's entry points as plain processes, where no container engine runs: exactly the commands
deploy/compose.yaml declares (the Dockerfile's ENTRYPOINT, then each service's command), with its environment, on
one PostgreSQL database. The migration runs once; the server replicas, each several processes, come up, answer
the Dockerfile's HEALTHCHECK, and every process takes requests; a case submitted to one replica reads the same from
another; the worker comes up; all stop cleanly on SIGTERM, and the audit chain they wrote together verifies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from helpers.deploy import compose, healthcheck_command, service
from helpers.processes import (
    SIGNOFF,
    ServerProcess,
    accepted_connections,
    environment,
    server_processes,
    signoff,
)

pytestmark = pytest.mark.slow  # several server processes and the worker


def _declared(name: str, database_url: str, project: Path) -> tuple[list[str], dict[str, str]]:
    """The service's command and environment, with this test's database and project in place of the compose
    file's (the values the containers get from their own network and volume)."""
    command, declared = service(name)
    assert declared["SIGNOFF_DATABASE_URL"].startswith("postgresql://")
    assert declared["SIGNOFF_PROJECT"] == "/project/signoff.yaml"
    env = environment(database_url) | {"SIGNOFF_PROJECT": str(project)}
    assert command[0] == "signoff"
    return [SIGNOFF, *command[1:]], env


class DeclaredServer(ServerProcess):
    """The compose file's server command, on a free port instead of the container's 8000."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        super().__init__(Path(env["SIGNOFF_PROJECT"]), env, log)
        at = command.index("--port") + 1
        self.declared = [*command[:at], str(self.port), *command[at + 1 :]]

    def command(self) -> list[str]:
        return self.declared


def _until_every_process_has_served(server: DeclaredServer, token: str, rows: list[dict[str, object]]) -> list[int]:
    """Submit cases over several connections at once, round after round, until each of the replica's server
    processes has accepted one of them; the ids of the cases."""
    assert server.process is not None
    processes: set[int] = set()
    deadline = time.monotonic() + 60
    while len(processes) < 2 and time.monotonic() < deadline:
        processes = server_processes(server.process.pid)
        time.sleep(0.2)
    workers = int(service("server")[0][service("server")[0].index("--workers") + 1])
    assert len(processes) == workers, processes
    ids: list[int] = []
    served: dict[int, int] = {}
    for _ in range(20):
        clients = [httpx.Client(base_url=server.url, timeout=60) for _ in range(8)]
        try:
            for client in clients:  # each client opens its own connection and keeps it
                answer = client.post(
                    "/api/v1/flows/credit-approval/cases",
                    json={"fields": rows[len(ids) % len(rows)]},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert answer.status_code == 201, answer.text
                ids.append(answer.json()["case"]["case_id"])
            served = accepted_connections(processes, server.port)
        finally:
            for client in clients:
                client.close()
        if all(served.values()):
            return ids
    raise AssertionError(f"some server process accepted no connection: {served}")


def test_the_declared_commands_come_up_serve_together_and_stop_on_sigterm(tmp_path: Path, postgres_url: str) -> None:
    env = environment(postgres_url)
    assert signoff("init", str(tmp_path / "project"), env=env).returncode == 0
    project = tmp_path / "project" / "signoff.yaml"
    cases = pd.read_csv(tmp_path / "project" / "credit-cases.csv", nrows=50).drop(columns="external_id")
    rows = json.loads(cases.to_json(orient="records"))

    command, migrate_env = _declared("migrate", postgres_url, project)
    migrated = subprocess.run(command, env=migrate_env, capture_output=True, text=True, timeout=300, check=False)
    assert migrated.returncode == 0 and "is at revision" in migrated.stdout, migrated.stderr
    added = signoff("users", "add", "loader", "--role", "intake", env=migrate_env)
    assert added.returncode == 0, added.stderr
    token = added.stdout.split()[-1]

    command, server_env = _declared("server", postgres_url, project)
    replicas = [
        DeclaredServer(command, server_env, tmp_path / f"server-{n}.log")
        for n in range(compose()["services"]["server"]["deploy"]["replicas"])
    ]
    worker_command, worker_env = _declared("worker", postgres_url, project)
    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as log:
        worker = subprocess.Popen(worker_command, env=worker_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for replica in replicas:
            replica.start(timeout=180)
        health = healthcheck_command()
        for replica in replicas:
            probe = [sys.executable, *health[1:-1], health[-1].replace(":8000/", f":{replica.port}/")]
            assert subprocess.run(probe, timeout=30, check=False).returncode == 0
            assert httpx.get(f"{replica.url}/readyz", timeout=30).status_code == 200
        submitted = {replica.port: _until_every_process_has_served(replica, token, rows) for replica in replicas}
        all_ids = [case_id for ids in submitted.values() for case_id in ids]
        assert len(set(all_ids)) == len(all_ids)  # one sequence of ids across every process
        for replica in replicas:  # each case reads the same from every replica
            other = next(r for r in replicas if r is not replica)
            for case_id in submitted[replica.port][:5]:
                here, there = (
                    httpx.get(f"{r.url}/api/v1/cases/{case_id}", headers={"Authorization": f"Bearer {token}"})
                    for r in (replica, other)
                )
                assert here.status_code == there.status_code == 200 and here.json() == there.json()
        deadline = time.monotonic() + 60
        while b"Worker for" not in worker_log.read_bytes() and time.monotonic() < deadline:
            assert worker.poll() is None, worker_log.read_text(errors="replace")
            time.sleep(0.2)
        assert worker.poll() is None and b"Worker for" in worker_log.read_bytes()
    finally:
        stopped = []
        for replica in replicas:
            running, children = replica.process, set()
            if running is not None:
                children = server_processes(running.pid)
            replica.stop()
            stopped.append((running, children))
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    for running, children in stopped:
        assert running is not None and running.returncode == 0
        assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    assert worker.returncode == 0, worker_log.read_text(errors="replace")
    verified = signoff("audit", "verify", env=worker_env)
    assert verified.returncode == 0 and "Audit chain intact" in verified.stdout, verified.stdout + verified.stderr
