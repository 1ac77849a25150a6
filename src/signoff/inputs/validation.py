"""Check cases against their flow's input schema: one case, or a whole batch all or nothing. Pure: no I/O, every
problem named by its location."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from signoff import jsontext
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


# Made once: ``json.dumps`` with options builds an encoder per call, which cost as much as the encoding.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def payload_hash(fields: Mapping[str, Any]) -> str:
    """The same fields, however they arrived (JSON, CSV text, Parquet), give the same hash."""
    return hashlib.sha256(_CANONICAL.encode(fields).encode()).hexdigest()


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
    flow: Flow,
    chunks: Iterable[Iterable[Entry]],
    refused: str,
    *,
    label: str | None = None,
    limit: int | None = None,
    keep: bool = True,
) -> Batch:
    """Validate a whole batch before anything of it is written: every case, or ``InvalidInput`` headed ``refused``
    naming each problem by its location. ``label`` names where an entry's known answer stands (``label``, a
    file's label column): it must be one of the flow's labels. ``limit`` stops reading a long batch (a file,
    chunk by chunk) after the chunk in which that many problems were found; without ``keep``, the batch is only
    checked (a file's first pass), and its cases are not held in memory."""
    cases: list[CaseInput] = []
    labels: list[str] = []
    problems: list[Problem] = []
    for given in chunks:
        chunk = list(given)
        valid = _by_columns(flow, chunk, keep) if label is None else None
        if valid is not None:
            if keep:
                cases.extend(valid)
            continue
        for entry in chunk:
            case, found = validate_case(flow, entry.external_id, entry.fields, entry.location, text=entry.text)
            problems.extend(found)
            if label is not None and (entry.label is None or str(entry.label) not in flow.labels):
                reason = f"must be one of {list(flow.labels)}, got {entry.label!r}"
                problems.append(Problem(f"{entry.location}.{label}", reason))
            if case is not None and keep:
                cases.append(case)
                labels.append(str(entry.label))
        if limit is not None and len(problems) >= limit:
            break
    if problems:
        raise InvalidInput(problems, refused)
    return Batch(cases, labels if label is not None else [])


# What the column-wise path (``_by_columns``) converts itself: plain ASCII decimal numbers, whole numbers that fit in
# 64 bits. Anything else (``1_000``, ``inf``, Unicode digits, a value out of range) goes case by case.
_DECIMAL = re.compile(r"[ \t]*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?[ \t]*")
_WHOLE = re.compile(r"[ \t]*[-+]?[0-9]{1,18}[ \t]*")


def _column(spec: FieldSpec, values: list[Any]) -> list[Any] | None:
    """One field's text values of a chunk converted as ``_convert`` would (blanks as None), or None when any of them
    needs ``validate_case`` (to convert it, or to say what is wrong with it)."""
    if not all(isinstance(v, str) for v in values):
        return None
    blank = [not v.strip() for v in values]
    if any(blank) and spec.required:
        return None
    present = [v for v, b in zip(values, blank, strict=True) if not b]
    if spec.type in ("number", "integer"):
        pattern = _DECIMAL if spec.type == "number" else _WHOLE
        if not all(pattern.fullmatch(v) for v in present):
            return None
        numbers = np.array(present, dtype=np.float64 if spec.type == "number" else np.int64)
        if not np.isfinite(numbers).all():
            return None
        if (spec.min is not None and (numbers < spec.min).any()) or (
            spec.max is not None and (numbers > spec.max).any()
        ):
            return None
        converted: list[Any] = numbers.tolist()
    elif spec.type == "boolean":
        words = [v.strip().lower() for v in present]
        if not set(words) <= _TRUE | _FALSE:
            return None
        converted = [w in _TRUE for w in words]
    else:
        # One search of the values joined finds what a search of each would: joining makes no new character.
        if problem("".join(present), name=False) is not None or max(map(len, present), default=0) > spec.max_length:
            return None
        if spec.type == "category" and spec.values is not None and not set(present) <= set(spec.values):
            return None
        converted = present
    if len(converted) == len(values):
        return converted
    found = iter(converted)
    return [None if b else next(found) for b in blank]


def _by_columns(flow: Flow, entries: list[Entry], keep: bool = True) -> list[CaseInput] | None:
    """A chunk of a case file's rows validated a field at a time, the cases ``validate_case`` gives (none without
    ``keep``: the chunk is only checked); None when the chunk is not text rows of one header (a CSV's), or when
    anything in it is in doubt: then ``validate_case`` takes each case and names every problem. At a million
    cases, case by case cost more than scoring them."""
    if not entries or not all(e.text and isinstance(e.fields, dict) for e in entries):
        return None
    header = entries[0].fields.keys()
    if not all(e.fields.keys() == header for e in entries):
        return None
    if any(problem(str(name), name=True) for name in header):
        return None
    if flow.extra_fields == "forbid" and not set(header) <= set(flow.fields):
        return None
    external = [e.external_id for e in entries]
    given = [x for x in external if x is not None]
    if not all(isinstance(x, str) and 0 < len(x) <= MAX_EXTERNAL_ID for x in given) or problem(
        "".join(given), name=True
    ):
        return None
    columns: dict[str, list[Any]] = {}
    for name, spec in flow.fields.items():
        found = _column(spec, [e.fields[name] for e in entries]) if name in header else None
        if found is None and (name in header or spec.required):
            return None
        columns[name] = found if found is not None else [None] * len(entries)
    if flow.entity is not None:
        named = [v for v in columns[flow.entity] if isinstance(v, str)]
        if problem("".join(named), name=True) is not None:
            return None
    if not keep:
        return []
    names = list(columns)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    hashes = [
        hashlib.sha256(t.encode()).hexdigest() for t in jsontext.objects(names, list(columns.values()), _CANONICAL)
    ]
    entities = columns[flow.entity] if flow.entity is not None else [None] * len(rows)
    return [
        CaseInput(
            external_id,
            clean,
            {name: clean[name] for name in flow.groups},
            digest,
            None if entity is None else str(entity)[:MAX_EXTERNAL_ID],
        )
        for external_id, clean, digest, entity in zip(external, rows, hashes, entities, strict=True)
    ]
