"""`signoff consume` on RabbitMQ, Redis Streams and NATS JetStream, each on SQLite and PostgreSQL: killed with
SIGKILL mid-stream and started again, every case is stored once, every acknowledged message has its case,
malformed messages are dead letters with their errors, and decisions (the model's at once, a reviewer's when
made) are published to the reply queue."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.consuming import URLS, example_project, killed_mid_stream

pytestmark = pytest.mark.slow  # starts and kills consumer processes


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_project(tmp_path_factory.mktemp("consume") / "project")


@pytest.mark.parametrize("broker", list(URLS))
def test_killed_mid_stream_every_case_once_dead_letters_and_decisions_published(
    broker: str, database_url: str, project: Path, tmp_path: Path
) -> None:
    killed_mid_stream(broker, database_url, project, tmp_path)
