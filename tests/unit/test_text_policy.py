"""The one text policy: what names and free text may hold, and case payloads and files checked against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.builders import make_flow
from signoff import text
from signoff.errors import Problem
from signoff.inputs.files import read_chunks
from signoff.inputs.validation import validate_case


@pytest.mark.parametrize(
    ("value", "as_name", "as_text"),
    [
        ("loan-7 Müller 株式会社", None, None),
        (
            "x\ud800",
            "contains a lone surrogate (U+D800) at position 1",
            "contains a lone surrogate (U+D800) at position 1",
        ),
        ("a\x00", "contains a NUL character (U+0000) at position 1", "contains a NUL character (U+0000) at position 1"),
        ("line\nbreak\t", "contains a control character (U+000A) at position 4", None),
        ("\x7f", "contains a control character (U+007F) at position 0", None),
        ("\x9b", "contains a control character (U+009B) at position 0", None),
        ("\u200f", "contains a bidirectional control (U+200F) at position 0", None),
        ("\u061c", "contains a bidirectional control (U+061C) at position 0", None),
        ("ab\ufeff", "contains a byte order mark (U+FEFF) at position 2", None),
    ],
)
def test_names_hold_less_than_free_text(value: str, as_name: str | None, as_text: str | None) -> None:
    assert text.problem(value, name=True) == as_name
    assert text.problem(value, name=False) == as_text


def test_a_case_payload_is_checked_against_the_policy() -> None:
    flow = make_flow(
        fields={"who": {"type": "string"}, "note": {"type": "string", "required": False}}, groups=[], entity="who"
    )
    _, problems = validate_case(flow, "id\u202e", {"who": "ann\u2067", "note": "x\x00", "bad\x00": 1}, "case")
    assert problems == [
        Problem("case.external_id", "contains a bidirectional control (U+202E) at position 2"),
        Problem("case.fields", "a field name contains a NUL character (U+0000) at position 3"),
        Problem("case.fields.note", "contains a NUL character (U+0000) at position 1"),
        Problem("case.fields.who", "contains a bidirectional control (U+2067) at position 3"),
    ]
    kept, none = validate_case(flow, "id-1", {"who": "ann", "note": "\u05e9\u202b x \u202c\nok"}, "case")
    assert none == [] and kept is not None


def test_a_jsonl_line_with_a_lone_surrogate_is_a_problem_of_that_line(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text('{"external_id": "a\\udc80", "score": 0.1, "group": "a"}\n', encoding="utf-8")
    [(rows, is_text)] = list(read_chunks(path))
    _, problems = validate_case(make_flow(), rows[0].external_id, rows[0].fields, rows[0].location, text=is_text)
    assert problems == [Problem("cases.jsonl:line 1.external_id", "contains a lone surrogate (U+DC80) at position 1")]
