"""Label Studio interop: a flow's open review tasks as Label Studio tasks, with the model's prediction as a
pre-annotation and a labeling configuration that matches the flow's labels; Label Studio's annotations of those
tasks read back and recorded as reviews (``service.record_external``).

The format is Label Studio's JSON task format (https://labelstud.io/guide/task_format): a task holds ``data``
(what the labeling configuration's ``$variables`` name), ``predictions`` (https://labelstud.io/guide/predictions:
each with ``model_version``, ``score`` and a ``result`` list) and, once annotated, ``annotations`` (each with its
``result`` list and ``was_cancelled``). A result item names its control tag (``from_name``), its object tag
(``to_name``), its ``type`` and its ``value``: for a ``Choices`` control ``{"choices": [...]}``, for a ``TextArea``
``{"text": [...]}``. The case's fields are shown by a ``Table`` object tag (https://labelstud.io/tags/table),
which lists a JSON object's keys and values; the Signoff task a Label Studio task stands for travels in its
``data`` (``signoff_task``), which Label Studio keeps and exports as it was imported.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree

from signoff.config import Flow, Project
from signoff.domain import TaskId, TaskKind
from signoff.errors import InvalidInput, Problem
from signoff.review import service
from signoff.store import tasks as task_store
from signoff.store.database import Database
from signoff.store.records import TaskToLabel

SOURCE = "label-studio"  # where an imported review came from, in its task.claimed event
CASE = "case"  # the Table object tag, and the data key holding the case's fields
CHOICE = "label"  # the Choices control tag that gives the label
COMMENT = "comment"  # the TextArea control tag that gives an optional comment
TASK_KEY = "signoff_task"  # the data key holding the Signoff task's id
_PAGE = 1000


def labeling_config(flow: Flow) -> str:
    """The labeling configuration (XML) of the flow's tasks: the case's fields as a table, one choice per label of
    the flow (one answer, required) and an optional comment."""
    view = ElementTree.Element("View")
    ElementTree.SubElement(view, "Header", value=f"{flow.name}: case $signoff_case")
    ElementTree.SubElement(view, "Table", name=CASE, value=f"${CASE}")
    choices = ElementTree.SubElement(
        view, "Choices", name=CHOICE, toName=CASE, choice="single-radio", required="true", showInline="true"
    )
    for label in flow.labels:
        ElementTree.SubElement(choices, "Choice", value=label)
    ElementTree.SubElement(view, "TextArea", name=COMMENT, toName=CASE, placeholder="Comment (optional)", rows="2")
    ElementTree.indent(view)
    return ElementTree.tostring(view, encoding="unicode") + "\n"


def task_of(found: TaskToLabel) -> dict[str, object]:
    """One open task as a Label Studio task: the case's fields and Signoff's references in ``data``, and the
    model's prediction (its label, its confidence as ``score``, its version) when the model gave one."""
    data: dict[str, object] = {
        CASE: found.fields,
        TASK_KEY: found.task_id,
        "signoff_case": found.case_id,
        "signoff_flow": found.flow,
        "signoff_queue": found.queue,
    }
    if found.external_id is not None:
        data["signoff_external_id"] = found.external_id
    task: dict[str, object] = {"data": data, "predictions": []}
    if found.label is not None and found.model_version is not None:
        result = {
            "id": f"signoff-{found.task_id}",
            "from_name": CHOICE,
            "to_name": CASE,
            "type": "choices",
            "value": {"choices": [found.label]},
        }
        prediction = {"model_version": found.model_version, "score": found.confidence, "result": [result]}
        task["predictions"] = [prediction]
    return task


def export_tasks(db: Database, flow: Flow, queue: str | None = None) -> Iterator[dict[str, object]]:
    """The flow's open review tasks (of ``queue``; None: every queue) as Label Studio tasks, oldest task first,
    read a page at a time."""
    if queue is not None and queue not in flow.queues:
        raise InvalidInput([Problem("queue", f"flow {flow.name!r} has no queue {queue!r}")], "nothing exported")
    after = 0
    while True:
        with db.transaction(write=False) as conn:
            page = task_store.to_label(conn, flow.name, queue, (TaskKind.REVIEW,), after, _PAGE)
        yield from (task_of(found) for found in page)
        if len(page) < _PAGE:
            return
        after = page[-1].task_id


@dataclass(frozen=True)
class Annotations:
    """What an exported file holds: a review per annotated task, and the Signoff tasks nobody annotated (or whose
    every annotation was cancelled, that is skipped in Label Studio)."""

    answers: tuple[service.ExternalReview, ...]
    unannotated: tuple[TaskId, ...]


def read_annotations(flow: Flow, document: object) -> Annotations:
    """The reviews in Label Studio's JSON export of tasks exported by ``export_tasks``: one live annotation per
    task, its label from the ``label`` choice and its comment from the ``comment`` text. Refused, naming every
    problem by its place in the file: anything else (not a list of tasks, a task that is not Signoff's or is of
    another flow, several live annotations on one task, no single label choice, a label not of the flow)."""
    if not isinstance(document, list):
        raise InvalidInput([Problem("file", "must be a JSON list of Label Studio tasks")], "nothing imported")
    problems: list[Problem] = []
    answers: list[service.ExternalReview] = []
    unannotated: list[TaskId] = []
    for i, task in enumerate(document):
        where = f"[{i}]"
        task_id = _task_id(flow, task, where, problems)
        if task_id is None or not isinstance(task, dict):
            continue
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list):
            problems.append(Problem(f"{where}.annotations", "must be a list"))
            continue
        live = [(j, a) for j, a in enumerate(annotations) if not (isinstance(a, dict) and a.get("was_cancelled"))]
        if not live:
            unannotated.append(task_id)
            continue
        if len(live) > 1:
            problems.append(
                Problem(f"{where}.annotations", f"{len(live)} annotations: one reviewer gives one review of a task")
            )
            continue
        j, annotation = live[0]
        answer = _answer(flow, annotation, f"{where}.annotations[{j}]", task_id, problems)
        if answer is not None:
            answers.append(answer)
    if problems:
        raise InvalidInput(problems, "nothing imported")
    return Annotations(tuple(answers), tuple(unannotated))


def _task_id(flow: Flow, task: object, where: str, problems: list[Problem]) -> TaskId | None:
    data = task.get("data") if isinstance(task, dict) else None
    if not isinstance(data, dict):
        problems.append(Problem(f"{where}.data", "a Label Studio task needs its data object"))
        return None
    task_id, of_flow = data.get(TASK_KEY), data.get("signoff_flow")
    if not isinstance(task_id, int) or isinstance(task_id, bool) or task_id < 1:
        problems.append(Problem(f"{where}.data.{TASK_KEY}", "not a task exported by Signoff (no task id)"))
        return None
    if of_flow != flow.name:
        problems.append(Problem(f"{where}.data.signoff_flow", f"the task is of flow {of_flow!r}, not {flow.name!r}"))
        return None
    return TaskId(task_id)


def _answer(
    flow: Flow, annotation: object, where: str, task_id: TaskId, problems: list[Problem]
) -> service.ExternalReview | None:
    result = annotation.get("result") if isinstance(annotation, dict) else None
    if not isinstance(result, list):
        problems.append(Problem(f"{where}.result", "must be a list of result items"))
        return None
    labels: list[object] = []
    comments: list[str] = []
    for k, item in enumerate(result):
        if not isinstance(item, dict):
            problems.append(Problem(f"{where}.result[{k}]", "must be a result item (an object)"))
            continue
        value = item.get("value")
        if item.get("from_name") == CHOICE and item.get("type") == "choices":
            chosen = value.get("choices") if isinstance(value, dict) else None
            labels += chosen if isinstance(chosen, list) else [chosen]
        elif item.get("from_name") == COMMENT and item.get("type") == "textarea":
            text = value.get("text") if isinstance(value, dict) else None
            comments += [t for t in text if isinstance(t, str)] if isinstance(text, list) else []
    if len(labels) != 1:
        problems.append(Problem(f"{where}.result", f"one {CHOICE!r} choice expected, found {len(labels)}"))
        return None
    (label,) = labels
    if not isinstance(label, str) or label not in flow.labels:
        reason = f"{label!r} is not a label of flow {flow.name!r} ({', '.join(flow.labels)})"
        problems.append(Problem(f"{where}.result", reason[:300]))
        return None
    return service.ExternalReview(where, task_id, label, "\n".join(comments))


@dataclass(frozen=True)
class Imported:
    """What an import recorded: the reviews, and the tasks it left open because nobody annotated them."""

    results: tuple[service.ReviewResult, ...]
    unannotated: tuple[TaskId, ...]


def import_annotations(db: Database, project: Project, flow: Flow, reviewer: str, document: object) -> Imported:
    """Record the annotations of a Label Studio export as ``reviewer``'s reviews of their tasks, all or nothing
    (``read_annotations``, then ``service.record_external``)."""
    found = read_annotations(flow, document)
    results = service.record_external(db, project, reviewer, flow.name, found.answers, SOURCE)
    return Imported(tuple(results), found.unannotated)


def decided(results: Sequence[service.ReviewResult]) -> int:
    """How many of ``results`` decided their case (a consensus review may await the others)."""
    return sum(result.decided_by is not None for result in results)
