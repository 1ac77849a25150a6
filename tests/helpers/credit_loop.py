"""The example project of ``signoff init`` closing its loop: the true outcome of each of its credit applications, and
a reviewer who works the review queue over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from signoff.sim import credit
from signoff.sim.example import TRAINING_ROWS


def true_labels(cases: int = 500, seed: int = 7) -> dict[str, str]:
    """Each application's true outcome (``decline``: it would default), by external id, as ``signoff init``
    generated its cases (the same generator, rows and seed)."""
    data = credit.applicants(TRAINING_ROWS + cases, seed).iloc[TRAINING_ROWS:].reset_index(drop=True)
    return {f"app-{i:06d}": str(label) for i, label in enumerate(data["label"])}


@dataclass
class Worked:
    """What a reviewer answered: by case id, the label and the task's kind (review or audit)."""

    answers: dict[int, tuple[str, str]] = field(default_factory=dict)


def work_the_queue(http: httpx.Client, token: str, answer: Callable[[dict[str, object]], str]) -> Worked:
    """Claim and submit until no task is left, answering each case (the API's case) with ``answer``."""
    worked = Worked()
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        claimed = http.post("/api/v1/tasks/claim", headers=headers)
        if claimed.status_code == 204:
            return worked
        assert claimed.status_code == 200, claimed.text
        body = claimed.json()
        label = answer(body["case"])
        done = http.post(
            f"/api/v1/tasks/{body['task']['id']}/submit",
            headers=headers,
            json={"token": body["lease"]["token"], "label": label},
        )
        assert done.status_code == 200, done.text
        worked.answers[int(body["case"]["id"])] = (label, str(body["task"]["kind"]))
