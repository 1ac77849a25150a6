"""The how-to "Take cases from a message broker", section "Try it with Redis", as a user runs it: the ``python``
block saved as ``publish.py``, every ``$`` command of the console block in order in a fresh folder, and
``signoff consume`` stopped with Ctrl-C (SIGINT) once the cases are in; each prints what the page shows."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import func, select

from helpers.processes import SIGNOFF, environment, signoff
from signoff.store.database import Database
from signoff.store.schema import cases

pytestmark = pytest.mark.slow  # runs signoff processes

PAGE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "consume-from-a-broker.md"
BLOCK = re.compile(r"```(console|python|text)\n(.*?)```", re.S)
NAMES = [f"signoff.credit-approval.{part}" for part in ("cases", "decisions", "dead")]


@pytest.fixture
def redis() -> Iterator[Redis]:
    client = Redis.from_url("redis://127.0.0.1:6379")
    client.delete(*NAMES)
    yield client
    client.delete(*NAMES)
    client.close()


def _count(url: str) -> int:
    db = Database(url)
    try:
        with db.transaction(write=False) as conn:
            return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())
    finally:
        db.dispose()


def test_every_command_of_the_page_runs_and_prints_what_the_page_shows(tmp_path: Path, redis: Redis) -> None:
    section = PAGE.read_text(encoding="utf-8").split("## Try it with Redis")[1].split("\n## ")[0]
    blocks = BLOCK.findall(section)
    (script,) = [body for kind, body in blocks if kind == "python"]
    (console,) = [body for kind, body in blocks if kind == "console"]
    (said,) = [body.strip() for kind, body in blocks if kind == "text"]
    env, cwd = environment(), tmp_path
    lines = console.splitlines()
    for number, line in enumerate(lines):
        if not line.startswith("$ "):
            continue
        args = shlex.split(line[2:])
        shown = lines[number + 1] if number + 1 < len(lines) and not lines[number + 1].startswith("$") else ""
        if args[0] == "cd":
            cwd = cwd / args[1]
            (cwd / "publish.py").write_text(script, encoding="utf-8")
        elif args[0] == "python":
            done = subprocess.run([sys.executable, *args[1:]], cwd=cwd, env=env, capture_output=True, timeout=300)
            assert done.returncode == 0, done.stderr
        elif args[:2] == ["signoff", "consume"]:
            log = tmp_path / "consume.log"
            with log.open("wb") as out:
                process = subprocess.Popen([SIGNOFF, *args[1:]], cwd=cwd, env=env, stdout=out, stderr=out)
            try:
                deadline = time.monotonic() + 300
                while _count(f"sqlite:///{cwd / 'signoff.db'}") < 500:
                    assert process.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "the cases never came in"
                    time.sleep(0.5)
                time.sleep(1.0)  # the next publishing pass
                process.send_signal(signal.SIGINT)
                assert process.wait(timeout=120) == 0, log.read_text()
            finally:
                if process.poll() is None:
                    process.kill()
            output = log.read_text()
            assert shown in output and said in output, output
            assert redis.xlen(NAMES[1]) == 426 and redis.xlen(NAMES[2]) == 0
        else:
            done = signoff(*args[1:], env=env, cwd=cwd)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
