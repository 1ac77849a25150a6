"""What the Dockerfile and deploy/compose.yaml declare, read from the files, for tests that check them and run
their commands as plain processes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) in order, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n\s*", "", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, arguments = line.strip().partition(" ")
            found.append((name.upper(), arguments.strip()))
    return found


def dockerfile_command() -> list[str]:
    """ENTRYPOINT + CMD (both in exec form): what the image runs by default."""
    declared = dict(dockerfile_instructions())
    return [*json.loads(declared["ENTRYPOINT"]), *json.loads(declared["CMD"])]


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's CMD, in exec form."""
    health = dict(dockerfile_instructions())["HEALTHCHECK"]
    command: list[str] = json.loads(health.split(" CMD ", 1)[1])
    return command


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def service(name: str) -> tuple[list[str], dict[str, str]]:
    """A compose service of the Signoff image: the command it runs (the image's entry point, then the service's
    command) and its environment as declared."""
    declared = compose()["services"][name]
    entrypoint = json.loads(dict(dockerfile_instructions())["ENTRYPOINT"])
    return [*entrypoint, *declared["command"]], dict(declared["environment"])
