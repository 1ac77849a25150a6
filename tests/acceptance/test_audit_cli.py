"""`signoff audit export` through the real command line: the whole sealed trail, bounded by time, written
in one piece, and clear errors for bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.processes import environment, ingested_example, signoff

pytestmark = pytest.mark.slow  # runs signoff processes


def test_an_auditor_exports_the_sealed_trail(tmp_path: Path) -> None:
    env = environment()
    project = ["-p", ingested_example(tmp_path, env)]

    trail = tmp_path / "trail.jsonl"
    exported = signoff("audit", "export", "-o", str(trail), *project, env=env)
    assert exported.returncode == 0, exported.stderr
    events = [json.loads(line) for line in trail.read_text(encoding="utf-8").splitlines()]
    assert len(events) > 10 and f"Wrote {len(events)} sealed events to {trail}." in " ".join(exported.stdout.split())
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert not trail.with_name("trail.jsonl.partial").exists()

    as_csv = signoff("audit", "export", "--format", "csv", "--until", "2000-01-01", *project, env=env)
    assert (
        as_csv.returncode == 0
        and as_csv.stdout.strip() == "seq,event_id,at,actor,action,entity,entity_id,data,prev_hash,hash"
    )
    assert "No sealed event until 2000-01-01: nothing exported." in as_csv.stderr

    for since, until in (("2026-11-01", "2026-11-01"), ("2026-11-02", "2026-11-01T12:00")):  # same day; swapped
        empty = signoff(
            "audit", "export", "--since", since, "--until", until, "-o", str(tmp_path / "e"), *project, env=env
        )
        assert empty.returncode == 2 and f"--until: {until!r} is not after --since {since!r}" in empty.stderr
        assert "give the next day as --until" in " ".join(empty.stderr.split())
        assert not (tmp_path / "e").exists()

    bad_time = signoff("audit", "export", "--since", "last tuesday", "-o", str(tmp_path / "x"), *project, env=env)
    assert bad_time.returncode == 2 and "--since: 'last tuesday' is not an ISO 8601 date" in bad_time.stderr
    assert not (tmp_path / "x").exists()
    bad_format = signoff("audit", "export", "--format", "xml", *project, env=env)
    assert bad_format.returncode == 2 and "--format must be jsonl or csv, not 'xml'" in bad_format.stderr
