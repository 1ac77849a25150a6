"""The Label Studio format, checked by Label Studio's own SDK: the labeling configuration parses and validates, an
exported task is a ``TaskValue`` whose prediction the configuration accepts, and annotations built with the SDK's
own control tags read back as reviews; anything else is refused, named by its place in the file."""

from __future__ import annotations

from typing import Any

import pytest
from label_studio_sdk.label_interface.objects import TaskValue

from helpers.builders import make_flow
from helpers.labelstudio import annotate, interface
from signoff.domain import CaseId, TaskId, TaskKind
from signoff.errors import InvalidInput
from signoff.review import labelstudio
from signoff.store.records import TaskToLabel

FLOW = make_flow()


def _found(task_id: int = 7, label: str | None = "bad", version: str | None = "test-1") -> TaskToLabel:
    return TaskToLabel(
        task_id=TaskId(task_id),
        case_id=CaseId(task_id + 100),
        flow=FLOW.name,
        queue="default",
        kind=TaskKind.REVIEW,
        external_id=f"ext-{task_id}",
        fields={"score": 0.5, "group": "a", "amount": None},
        label=label,
        confidence=0.5 if label else None,
        model_version=version,
    )


def test_the_labeling_config_is_valid_for_label_studio_and_offers_the_flows_labels() -> None:
    tags = interface(FLOW)
    tags.validate()  # Label Studio's schema, unique names, toName targets, tag attributes
    choices = tags.get_control(labelstudio.CHOICE)
    assert list(choices.labels) == list(FLOW.labels)
    assert choices.to_name == [labelstudio.CASE]


def test_an_exported_task_is_a_label_studio_task_with_a_valid_prediction() -> None:
    task = labelstudio.task_of(_found())
    parsed = TaskValue.model_validate(task)  # the SDK's own task model
    assert parsed.data is not None and parsed.data["case"] == {"score": 0.5, "group": "a", "amount": None}
    (prediction,) = parsed.predictions or []
    assert (prediction.model_version, prediction.score) == ("test-1", 0.5)
    tags = interface(FLOW)
    assert tags.validate_prediction(task["predictions"][0], return_errors=True) == []  # type: ignore[index]
    for tag in tags.objects:  # every $variable of the configuration is in the task's data
        assert tag.value_name in parsed.data


def test_a_prediction_the_configuration_refuses_is_caught_by_the_same_check() -> None:
    """The check above can fail: a label outside the configuration's choices is refused by the SDK."""
    bad = labelstudio.task_of(_found(label="maybe"))
    assert interface(FLOW).validate_prediction(bad["predictions"][0], return_errors=True) != []  # type: ignore[index]


def test_a_case_the_model_gave_no_output_for_is_exported_without_prediction() -> None:
    task = labelstudio.task_of(_found(label=None, version="test-1"))
    assert task["predictions"] == []
    TaskValue.model_validate(task)


def test_annotations_read_back_as_reviews_of_their_tasks() -> None:
    first, second, skipped = (labelstudio.task_of(_found(i)) for i in (1, 2, 3))
    annotate(FLOW, first, "good", "checked the payslips")
    annotate(FLOW, second, "bad")
    annotate(FLOW, skipped, "bad", cancelled=True)  # a task skipped in Label Studio
    found = labelstudio.read_annotations(FLOW, [first, second, skipped])
    assert [(a.task_id, a.label, a.comment) for a in found.answers] == [
        (1, "good", "checked the payslips"),
        (2, "bad", ""),
    ]
    assert found.answers[0].location == "[0].annotations[0]"
    assert found.unannotated == (3,)


def test_every_bad_item_is_named_by_its_place_and_nothing_is_read() -> None:
    not_ours: dict[str, Any] = {"data": {"text": "hello"}, "annotations": []}
    other_flow = labelstudio.task_of(_found(2))
    other_flow["data"]["signoff_flow"] = "other"  # type: ignore[index]
    wrong_label, twice, no_choice = (labelstudio.task_of(_found(i)) for i in (3, 4, 5))
    annotate(FLOW, wrong_label, "good")
    wrong_label["annotations"][0]["result"][0]["value"]["choices"] = ["maybe"]  # type: ignore[index]  # by hand
    annotate(FLOW, twice, "good")
    annotate(FLOW, twice, "bad")
    no_choice["annotations"] = [{"result": [], "was_cancelled": False}]
    with pytest.raises(InvalidInput) as refused:
        labelstudio.read_annotations(FLOW, [not_ours, other_flow, wrong_label, twice, no_choice])
    assert [p.location for p in refused.value.problems] == [
        "[0].data.signoff_task",
        "[1].data.signoff_flow",
        "[2].annotations[0].result",
        "[3].annotations",
        "[4].annotations[0].result",
    ]
    assert "'maybe' is not a label of flow 'test-flow'" in str(refused.value)
    with pytest.raises(InvalidInput, match="must be a JSON list"):
        labelstudio.read_annotations(FLOW, {"data": {}})
