"""A reviewer process killed with SIGKILL mid-lease loses nothing: the task is claimable again after the TTL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.processes import environment
from helpers.queues import age_lease, queued, reviewer
from signoff import review
from signoff.errors import Conflict
from signoff.store.database import Database

pytestmark = pytest.mark.slow  # starts and kills a reviewer process

CLAIMER = """
import sys, time
from signoff import review
from signoff.config import load_project
from signoff.store.database import Database
from signoff.store.users import user_by_name
db = Database(sys.argv[1])
with db.transaction(write=False) as conn:
    me = user_by_name(conn, "doomed")
got = review.claim(db, load_project(sys.argv[2]), me)
print(got.task_id, got.token, flush=True)
time.sleep(600)
"""


def test_a_killed_reviewers_task_returns_after_its_lease(db: Database, tmp_path: Path) -> None:
    project = queued(db, tmp_path, 1)  # 60 s leases
    reviewer(db, "doomed")
    survivor = reviewer(db, "survivor")
    process = subprocess.Popen(
        [sys.executable, "-c", CLAIMER, db.url, str(project.path)], env=environment(), stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    task_id, token = (int(x) for x in process.stdout.readline().split())
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert review.claim(db, project, survivor) is None  # the dead reviewer's lease still holds the task
    age_lease(db, task_id, 61)  # the 60 s pass, by the database clock
    again = review.claim(db, project, survivor)
    assert again is not None and (again.task_id, again.token) == (task_id, token + 1)
    review.submit(db, project, survivor, again.task_id, again.token, "good")
    with pytest.raises(Conflict):  # the dead lease can never act again
        review.heartbeat(db, survivor, again.task_id, token)
