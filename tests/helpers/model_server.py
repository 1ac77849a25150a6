"""A prediction service speaking the three protocols a flow's remote model may use, as a real HTTP server process.

Its model is ``helpers.models.by_score``: P("bad") is the case's ``score`` field. ``POST /predict`` answers in
Signoff's own shape, ``POST /v2/models/credit/infer`` in the Open Inference Protocol (KServe v2), ``POST
/invocations`` like MLflow's scoring server (``dataframe_split``). ``GET /stats`` tells how many requests came
and the largest number of cases one held, so that a test sees the batching.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from helpers.processes import ServerProcess

app = FastAPI()
seen = {"requests": 0, "largest": 0}


def _probabilities(scores: list[float]) -> list[list[float]]:
    seen["requests"] += 1
    seen["largest"] = max(seen["largest"], len(scores))
    return [[1 - s, s] for s in scores]


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/stats")
def stats() -> dict[str, int]:
    return seen


@app.post("/predict")
async def own(request: Request) -> dict[str, Any]:
    body = await request.json()
    rows = _probabilities([float(case["score"]) for case in body["instances"]])
    return {"labels": ["bad", "good"], "probabilities": [[bad, good] for good, bad in rows]}  # the other order


@app.post("/v2/models/credit/infer")
async def kserve(request: Request) -> dict[str, Any]:
    body = await request.json()
    score = next(tensor for tensor in body["inputs"] if tensor["name"] == "score")
    rows = _probabilities([float(v) for v in score["data"]])
    flat = [p for row in rows for p in row]
    return {
        "model_name": "credit",
        "id": body.get("id", ""),
        "outputs": [
            {"name": "label", "shape": [len(rows)], "datatype": "BYTES", "data": ["x"] * len(rows)},
            {"name": "probabilities", "shape": [len(rows), 2], "datatype": "FP64", "data": flat},
        ],
    }


@app.post("/invocations")
async def mlflow(request: Request) -> dict[str, Any]:
    split = (await request.json())["dataframe_split"]
    column = split["columns"].index("score")
    return {"predictions": _probabilities([float(row[column]) for row in split["data"]])}


class ModelServer(ServerProcess):
    """This app under uvicorn on one port, killed and started again on it like ``signoff serve``."""

    def __init__(self, log: Path, env: dict[str, str], port: int | None = None) -> None:
        super().__init__(log.parent, env, log, port)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "helpers.model_server:app",
            "--port",
            str(self.port),
            "--no-access-log",
        ]
