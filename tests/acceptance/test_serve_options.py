"""`signoff serve` options. Behind a reverse proxy: the proxies named by --forwarded-allow-ips are believed when
they say the request came over https (so the web session cookie is Secure and __Host- bound); anyone else is not.
--workers N: several server processes on PostgreSQL, refused on SQLite."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import pytest

from helpers.processes import ServerProcess, environment, ingested_example, server, server_processes, signoff

pytestmark = pytest.mark.slow  # serves in processes, one stalled for 20 s

SCALE_OUT = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "scale-out.md"
HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of the commands: the project's own SQLite file, or a fresh PostgreSQL database."""
    return environment(request.getfixturevalue("postgres_url") if request.param == "postgresql" else None)


def _login_cookie(project: Path, env: dict[str, str], *options: str) -> str:
    with server(project, env, *options) as http:
        response = http.get("/login", headers=HTTPS)
        assert response.status_code == 200
        return response.headers["set-cookie"]


def test_a_trusted_proxy_marks_the_cookies_secure_and_an_untrusted_one_does_not(
    tmp_path: Path, env: dict[str, str]
) -> None:
    project = Path(ingested_example(tmp_path, env))
    trusted = _login_cookie(project, env, "--forwarded-allow-ips", "127.0.0.1,10.0.0.0/8")
    assert trusted.startswith("__Host-signoff-login=") and "Secure" in trusted
    untrusted = _login_cookie(project, env, "--forwarded-allow-ips", "10.9.8.7")
    assert untrusted.startswith("signoff-login=") and "Secure" not in untrusted


def test_a_proxy_address_that_is_not_one_is_refused_before_serving(tmp_path: Path) -> None:
    refused = signoff("serve", "--forwarded-allow-ips", "127.0.0.1,proxy.local", env=environment(), cwd=tmp_path)
    assert refused.returncode == 2
    assert "--forwarded-allow-ips: 'proxy.local' is not an IP address or network" in " ".join(refused.stderr.split())


def test_several_server_processes_are_refused_on_sqlite_before_serving(tmp_path: Path) -> None:
    project = ingested_example(tmp_path, environment())
    refused = signoff("serve", "--workers", "2", "-p", project, env=environment())
    assert refused.returncode == 2
    message = " ".join(refused.stderr.split())
    assert message.startswith(f"error: --workers 2 needs PostgreSQL: sqlite:///{Path(project).parent / 'signoff.db'} ")
    shown = re.search(r"```text\n(error: --workers 2 .*)\n```", SCALE_OUT.read_text(encoding="utf-8"))
    assert shown is not None and re.sub(r"sqlite:///\S+", "URL", shown[1]) == re.sub(r"sqlite:///\S+", "URL", message)


def _stall_a_worker(project: Path, env: dict[str, str], timeout: int) -> tuple[int, set[int], set[int]]:
    """Serve with two workers, stop one for 20 s (as a loaded machine can keep it from answering), and return it
    and the workers before and after."""
    options = ("--workers", "2", "--worker-healthcheck-timeout", str(timeout))
    served = ServerProcess(project, env, project.parent / "serve.log", options=options)
    served.start(timeout=180)  # two processes loading the models on a loaded machine took over 60 s
    try:
        assert served.process is not None
        supervisor = served.process.pid
        # the same two processes for 15 s: on a loaded machine the supervisor may still be replacing processes
        # that were too slow to answer while importing, and one of those must not pass for the stalled one
        deadline, before, since = time.monotonic() + 180, server_processes(supervisor), time.monotonic()
        while time.monotonic() - since < 15 and time.monotonic() < deadline:
            time.sleep(0.5)
            if (now := server_processes(supervisor)) != before or len(now) < 2:
                before, since = now, time.monotonic()
        assert len(before) == 2, before
        stalled = min(before)
        os.kill(stalled, signal.SIGSTOP)
        time.sleep(20)
        with contextlib.suppress(ProcessLookupError):
            os.kill(stalled, signal.SIGCONT)
        time.sleep(2)
        return stalled, before, server_processes(supervisor)
    finally:
        served.stop()


def test_a_worker_that_answers_its_health_check_late_is_kept_up_to_the_timeout(
    tmp_path: Path, postgres_url: str
) -> None:
    """uvicorn's own 5 s restarted busy workers on a loaded 2-core machine (6-9 times in 30 s). On PostgreSQL:
    SQLite serves one process."""
    env = environment(postgres_url)
    project = Path(ingested_example(tmp_path, env))
    _, before, after = _stall_a_worker(project, env, 60)
    assert after == before  # stopped for 20 s, under the 60 s timeout: still the same two processes
    stalled, before, after = _stall_a_worker(project, env, 10)
    assert stalled not in after and after - before  # past a 10 s timeout it was killed and a new one started
