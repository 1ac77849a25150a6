"""The command line refuses bad configuration and bad files with a message that says where and why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from helpers.builders import flow_document
from helpers.processes import environment, signoff

pytestmark = pytest.mark.slow  # every test runs signoff processes


def _project(folder: Path, **overrides: object) -> Path:
    path = folder / "signoff.yaml"
    path.write_text(yaml.safe_dump({"flows": {"test-flow": flow_document(**overrides)}}), encoding="utf-8")
    return path


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "signoff.yaml"
    path.write_text("flows:\n  test-flow:\n    labels: [good, bad\n", encoding="utf-8")
    result = signoff("db", "upgrade", "-p", str(path), env=environment())
    assert result.returncode == 2
    assert (
        "is not a valid Signoff configuration" in result.stderr and "line 4, column 1: not valid YAML" in result.stderr
    )


def test_an_invalid_policy_names_the_flow_and_field(tmp_path: Path) -> None:
    path = _project(tmp_path, policy=[{"name": "t", "kind": "threshold", "min_confidence": 1.5}])
    result = signoff("db", "upgrade", "-p", str(path), env=environment())
    assert result.returncode == 2
    assert "flows.test-flow.policy[0].threshold.min_confidence" in result.stderr
    assert "less than or equal to 1" in result.stderr


def test_an_unknown_model_path_is_named(tmp_path: Path) -> None:
    path = _project(tmp_path, model={"kind": "sklearn", "path": "models/missing.skops"})
    env = environment()
    assert signoff("db", "upgrade", "-p", str(path), env=env).returncode == 0
    cases = tmp_path / "cases.csv"
    cases.write_text("score,group\n0.5,a\n", encoding="utf-8")
    result = signoff("ingest", "test-flow", str(cases), "-p", str(path), env=env)
    assert result.returncode == 1
    assert f"flows.test-flow.model.path: model file {tmp_path / 'models' / 'missing.skops'} not found" in result.stderr


def test_an_unknown_entry_point_is_named(tmp_path: Path) -> None:
    path = _project(tmp_path, model={"kind": "python", "entry_point": "no_such_module:score", "version": "1"})
    env = environment()
    signoff("db", "upgrade", "-p", str(path), env=env)
    cases = tmp_path / "cases.csv"
    cases.write_text("score,group\n0.5,a\n", encoding="utf-8")
    result = signoff("ingest", "test-flow", str(cases), "-p", str(path), env=env)
    assert result.returncode == 1 and "cannot import module 'no_such_module'" in result.stderr


def test_a_file_with_one_bad_row_writes_nothing(tmp_path: Path) -> None:
    path = _project(tmp_path)
    env = environment()
    signoff("db", "upgrade", "-p", str(path), env=env)
    cases = tmp_path / "cases.csv"
    cases.write_text("external_id,score,group\nk1,0.5,a\nk2,nan,a\nk3,0.2,z\n", encoding="utf-8")
    result = signoff("ingest", "test-flow", str(cases), "-p", str(path), env=env)
    assert result.returncode == 2
    assert "cases.csv has invalid cases; nothing was written" in result.stderr
    assert "cases.csv:line 3.fields.score: must be a finite number, got nan" in result.stderr
    assert "cases.csv:line 4.fields.group: must be one of ['a', 'b'], got 'z'" in result.stderr
    good = tmp_path / "good.csv"
    good.write_text("external_id,score,group\nk1,0.5,a\n", encoding="utf-8")
    accepted = signoff("ingest", "test-flow", str(good), "-p", str(path), env=env)
    assert "Read 1 cases: 1 new (1 sent to review), 0 already recorded." in accepted.stdout


def test_a_missing_project_file_says_how_to_make_one(tmp_path: Path) -> None:
    result = signoff("db", "upgrade", env=environment(), cwd=tmp_path)
    assert result.returncode == 2 and "signoff init DIR" in result.stderr


def test_serving_an_unmigrated_database_says_to_upgrade(tmp_path: Path) -> None:
    path = _project(tmp_path)
    result = signoff("serve", "-p", str(path), env=environment())
    assert result.returncode == 1 and "run `signoff db upgrade`" in result.stderr


def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    path = _project(tmp_path)
    env = environment("postgresql://nobody@127.0.0.1:1/none")
    result = signoff("db", "upgrade", "-p", str(path), env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the database at postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert "Traceback" not in result.stderr


def test_names_and_ids_that_the_text_policy_or_the_database_refuse_are_usage_errors(tmp_path: Path) -> None:
    path = _project(tmp_path)
    env = environment()
    assert signoff("db", "upgrade", "-p", str(path), env=env).returncode == 0
    bidi = signoff("users", "add", "evil\u202egnp", "--role", "reviewer", "-p", str(path), env=env)
    assert bidi.returncode == 2 and "contains a bidirectional control (U+202E) at position 4" in bidi.stderr
    not_utf8 = signoff("users", "skills", "bob", os.fsdecode(b"fr\xffaud"), "-p", str(path), env=env)
    assert not_utf8.returncode == 2 and "contains a lone surrogate (U+DCFF) at position 2" in not_utf8.stderr
    huge = signoff("assign", str(2**63), "-p", str(path), env=env)
    assert huge.returncode == 2 and "Invalid value for 'task_id'" in huge.stderr
    assert "Traceback" not in bidi.stderr + not_utf8.stderr + huge.stderr


def test_a_case_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = _project(tmp_path)
    env = environment()
    assert signoff("db", "upgrade", "-p", str(path), env=env).returncode == 0
    cases = tmp_path / "cases.csv"
    cases.write_bytes(b"external_id,score,group\nloan-\xff,0.5,a\n")
    result = signoff("ingest", "test-flow", str(cases), "-p", str(path), env=env)
    assert result.returncode == 2 and "cases.csv: is not valid UTF-8 (invalid start byte: 0xff)" in result.stderr
