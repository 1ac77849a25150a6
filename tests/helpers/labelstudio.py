"""Annotating exported tasks as Label Studio does, with its SDK's own control tags and annotation model."""

from __future__ import annotations

import warnings
from typing import Any

from label_studio_sdk.label_interface import LabelInterface
from label_studio_sdk.label_interface.objects import AnnotationValue
from pydantic import PydanticDeprecatedSince20

from signoff.config import Flow
from signoff.review import labelstudio


def interface(flow: Flow) -> LabelInterface:
    """The flow's labeling configuration, parsed by Label Studio's SDK."""
    return LabelInterface(labelstudio.labeling_config(flow))


def annotate(flow: Flow, task: dict[str, Any], label: str, comment: str | None = None, cancelled: bool = False) -> None:
    """Add to ``task`` the annotation Label Studio records when ``label`` is chosen (and ``comment`` typed)."""
    tags = interface(flow)
    result = [tags.get_control(labelstudio.CHOICE).label([label])]
    if comment is not None:
        result.append(tags.get_control(labelstudio.COMMENT).label(text=[comment]))
    with warnings.catch_warnings():  # the SDK's regions serialise themselves with pydantic's deprecated .dict()
        warnings.simplefilter("ignore", PydanticDeprecatedSince20)
        annotation = AnnotationValue(result=result, completed_by=1, was_cancelled=cancelled).model_dump()
    task.setdefault("annotations", []).append(annotation)
