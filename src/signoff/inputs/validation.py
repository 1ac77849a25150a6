"""Check cases against their flow's input schema: one case, or a whole batch all or nothing. Pure: no I/O, every
problem named by its location."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from signoff.config import FieldSpec, Flow
from signoff.domain import Fields
from signoff.errors import InvalidInput, Problem
from signoff.text import check, problem

MAX_EXTERNAL_ID = 200
MAX_FILE_PROBLEMS = 50  # a file stops being read once this many problems are found: enough to fix it, not a flood
_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f"}


@dataclass(frozen=True)
class CaseInput:
    """A case that passed validation, with its fields normalised to their declared types."""

    external_id: str | None
    fields: Fields
    groups: Fields
    payload_hash: str
    entity: str | None = None  # the value of the flow's entity field: whom the case is about


def payload_hash(fields: Mapping[str, Any]) -> str:
    """The same fields, however they arrived (JSON, CSV text, Parquet), give the same hash."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _number(value: Any, text: bool) -> float:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got the boolean {str(value).lower()}")
    if text and isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"must be a number, got {value!r}") from None
    if not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {type(value).__name__} {value!r}"[:200])
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("is too large to be a number") from None
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {number}")
    return number


def _integer(value: Any, text: bool) -> int:
    """Whole numbers stay exact (no detour through float), within the 64-bit range databases store."""
    if text and isinstance(value, str):
        with contextlib.suppress(ValueError):  # not a whole number in text; the float path below says why
            value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        number = _number(value, text)
        if not number.is_integer():
            raise ValueError(f"must be a whole number, got {number}")
        value = int(number)
    whole = int(value)
    if not -(2**63) <= whole < 2**63:
        raise ValueError("is outside the 64-bit integer range")
    return whole


def _convert(spec: FieldSpec, value: Any, text: bool) -> Any:
    if spec.type == "number":
        number = _number(value, text)
    elif spec.type == "integer":
        number = _integer(value, text)
    elif spec.type == "boolean":
        if isinstance(value, bool):
            return value
        if text and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"must be true or false, got {value!r}"[:200])
    else:
        if not isinstance(value, str):
            raise ValueError(f"must be text, got {type(value).__name__}")
        if (reason := problem(value, name=False)) is not None:
            raise ValueError(reason)
        if len(value) > spec.max_length:
            raise ValueError(f"is {len(value)} characters long, at most {spec.max_length} are allowed")
        if spec.type == "category" and spec.values is not None and value not in spec.values:
            raise ValueError(f"must be one of {list(spec.values)}, got {value!r}"[:300])
        return value
    if spec.min is not None and number < spec.min:
        raise ValueError(f"must be at least {spec.min:g}, got {number:g}")
    if spec.max is not None and number > spec.max:
        raise ValueError(f"must be at most {spec.max:g}, got {number:g}")
    return number


def _missing(value: Any, text: bool) -> bool:
    return value is None or (text and isinstance(value, str) and value.strip() == "")


def validate_case(
    flow: Flow, external_id: Any, fields: Any, location: str, *, text: bool = False
) -> tuple[CaseInput | None, list[Problem]]:
    """Validate one case. ``text`` says values arrived as text (CSV) and may be parsed into their types."""
    problems: list[Problem] = []
    if external_id is not None and (not isinstance(external_id, str) or not 0 < len(external_id) <= MAX_EXTERNAL_ID):
        problems.append(Problem(f"{location}.external_id", f"must be text of 1 to {MAX_EXTERNAL_ID} characters"))
    elif external_id is not None and (bad := check(f"{location}.external_id", external_id, name=True)) is not None:
        problems.append(bad)
    if not isinstance(fields, Mapping):
        problems.append(Problem(f"{location}.fields", "must be an object of field values"))
        return None, problems
    for name in fields:
        if isinstance(name, str) and (reason := problem(name, name=True)) is not None:
            problems.append(Problem(f"{location}.fields", f"a field name {reason}"))
    clean: Fields = {}
    for name, spec in flow.fields.items():
        value = fields.get(name)
        if _missing(value, text):
            if spec.required:
                problems.append(Problem(f"{location}.fields.{name}", f"required {spec.type} field is missing"))
            else:
                clean[name] = None
            continue
        try:
            clean[name] = _convert(spec, value, text)
        except ValueError as error:
            problems.append(Problem(f"{location}.fields.{name}", str(error)))
    if flow.extra_fields == "forbid":
        for name in fields:
            if name not in flow.fields and not (isinstance(name, str) and problem(name, name=True)):
                problems.append(
                    Problem(
                        f"{location}.fields.{str(name)[:100]}",
                        f"unknown field; this flow's fields are {', '.join(flow.fields)}",
                    )
                )
    entity = clean.get(flow.entity) if flow.entity is not None else None
    if isinstance(entity, str) and (bad := check(f"{location}.fields.{flow.entity}", entity, name=True)) is not None:
        problems.append(bad)  # the entity is shown as a name: whom the case is about
    if problems:
        return None, problems
    groups = {name: clean[name] for name in flow.groups}
    about = None if entity is None else str(entity)[:MAX_EXTERNAL_ID]
    return CaseInput(external_id, clean, groups, payload_hash(clean), about), []


@dataclass(frozen=True)
class Entry:
    """One case of a batch as it arrived: where it stands (``cases[3]``, ``cases.csv:line 4``), its external id and
    field values (``text``: as text, from CSV, to be parsed into their types) and, in a labelled batch (gold
    cases, a labelled file), its known answer."""

    location: str
    external_id: Any
    fields: Any
    text: bool = False
    label: Any = None


@dataclass(frozen=True)
class Batch:
    """A batch that passed validation: its cases in order and, for a labelled batch, their labels."""

    cases: list[CaseInput]
    labels: list[str]


def validate_batch(
    flow: Flow, chunks: Iterable[Iterable[Entry]], refused: str, *, label: str | None = None, limit: int | None = None
) -> Batch:
    """Validate a whole batch before anything of it is written: every case, or ``InvalidInput`` headed ``refused``
    naming each problem by its location. ``label`` names where an entry's known answer stands (``label``, a
    file's label column): it must be one of the flow's labels. ``limit`` stops reading a long batch (a file,
    chunk by chunk) after the chunk in which that many problems were found."""
    cases: list[CaseInput] = []
    labels: list[str] = []
    problems: list[Problem] = []
    for chunk in chunks:
        for entry in chunk:
            case, found = validate_case(flow, entry.external_id, entry.fields, entry.location, text=entry.text)
            problems.extend(found)
            if label is not None and (entry.label is None or str(entry.label) not in flow.labels):
                reason = f"must be one of {list(flow.labels)}, got {entry.label!r}"
                problems.append(Problem(f"{entry.location}.{label}", reason))
            if case is not None:
                cases.append(case)
                labels.append(str(entry.label))
        if limit is not None and len(problems) >= limit:
            break
    if problems:
        raise InvalidInput(problems, refused)
    return Batch(cases, labels if label is not None else [])
