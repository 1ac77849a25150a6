"""Cases checked against their flow's schema: every type, every refusal at its exact location; a batch all or
nothing."""

from __future__ import annotations

import math
from typing import Any

import pytest

from helpers.builders import make_flow
from signoff.errors import InvalidInput, Problem
from signoff.inputs.validation import CaseInput, Entry, payload_hash, validate_batch, validate_case

FLOW = make_flow(
    fields={
        "income": {"type": "number", "min": 0, "max": 1_000_000},
        "children": {"type": "integer", "min": 0, "required": False},
        "name": {"type": "string", "max_length": 5, "required": False},
        "employed": {"type": "boolean", "required": False},
        "region": {"type": "category", "values": ["north", "south"]},
    },
    groups=["region"],
)


def _problems(fields: dict[str, Any], *, text: bool = False) -> list[Problem]:
    case, problems = validate_case(FLOW, None, fields, "cases[3]", text=text)
    assert case is None
    return problems


def _fields(fields: dict[str, Any], *, text: bool = False) -> dict[str, Any]:
    case, problems = validate_case(FLOW, None, fields, "cases[3]", text=text)
    assert problems == []
    assert case is not None
    return case.fields


def test_a_valid_case_is_normalised_to_its_declared_types() -> None:
    fields = {"income": 1000, "children": 2.0, "name": "Ann", "employed": True, "region": "north"}
    case, problems = validate_case(FLOW, "loan-1", fields, "cases[3]")
    assert problems == []
    assert case == CaseInput(
        "loan-1",
        {"income": 1000.0, "children": 2, "name": "Ann", "employed": True, "region": "north"},
        {"region": "north"},
        payload_hash({"income": 1000.0, "children": 2, "name": "Ann", "employed": True, "region": "north"}),
    )
    assert type(case.fields["income"]) is float
    assert type(case.fields["children"]) is int


@pytest.mark.parametrize(("value", "shown"), [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")])
def test_non_finite_numbers_are_refused(value: float, shown: str) -> None:
    assert _problems({"income": value, "region": "north"}) == [
        Problem("cases[3].fields.income", f"must be a finite number, got {shown}")
    ]


def test_a_boolean_is_not_a_number() -> None:
    assert _problems({"income": True, "region": "north"}) == [
        Problem("cases[3].fields.income", "must be a number, got the boolean true")
    ]


def test_a_number_sent_as_json_text_is_refused() -> None:
    assert _problems({"income": "1000", "region": "north"}) == [
        Problem("cases[3].fields.income", "must be a number, got str '1000'")
    ]


def test_a_number_below_its_min_is_refused() -> None:
    assert _problems({"income": -1, "region": "north"}) == [
        Problem("cases[3].fields.income", "must be at least 0, got -1")
    ]


def test_a_number_above_its_max_is_refused() -> None:
    assert _problems({"income": 2_000_000, "region": "north"}) == [
        Problem("cases[3].fields.income", "must be at most 1e+06, got 2e+06")
    ]


def test_the_bounds_themselves_are_allowed() -> None:
    assert _fields({"income": 0, "region": "north"})["income"] == 0.0
    assert _fields({"income": 1_000_000, "region": "north"})["income"] == 1_000_000.0


def test_an_integer_with_a_fraction_is_refused() -> None:
    assert _problems({"income": 1, "children": 2.5, "region": "north"}) == [
        Problem("cases[3].fields.children", "must be a whole number, got 2.5")
    ]


def test_an_integer_below_its_min_is_refused() -> None:
    assert _problems({"income": 1, "children": -1, "region": "north"}) == [
        Problem("cases[3].fields.children", "must be at least 0, got -1")
    ]


def test_a_string_must_be_text() -> None:
    assert _problems({"income": 1, "name": 5, "region": "north"}) == [
        Problem("cases[3].fields.name", "must be text, got int")
    ]


def test_a_string_longer_than_max_length_is_refused() -> None:
    assert _problems({"income": 1, "name": "Annabel", "region": "north"}) == [
        Problem("cases[3].fields.name", "is 7 characters long, at most 5 are allowed")
    ]


def test_a_string_of_exactly_max_length_is_allowed() -> None:
    assert _fields({"income": 1, "name": "Annie", "region": "north"})["name"] == "Annie"


@pytest.mark.parametrize(("value", "shown"), [(1, "1"), ("true", "'true'")])
def test_a_json_boolean_must_be_true_or_false(value: Any, shown: str) -> None:
    assert _problems({"income": 1, "employed": value, "region": "north"}) == [
        Problem("cases[3].fields.employed", f"must be true or false, got {shown}")
    ]


def test_a_category_must_be_one_of_its_values() -> None:
    assert _problems({"income": 1, "region": "east"}) == [
        Problem("cases[3].fields.region", "must be one of ['north', 'south'], got 'east'")
    ]


@pytest.mark.parametrize("fields", [{"region": "north"}, {"income": None, "region": "north"}])
def test_a_missing_required_field_is_refused(fields: dict[str, Any]) -> None:
    assert _problems(fields) == [Problem("cases[3].fields.income", "required number field is missing")]


def test_missing_optional_fields_become_none() -> None:
    assert _fields({"income": 1, "region": "north"}) == {
        "income": 1.0,
        "children": None,
        "name": None,
        "employed": None,
        "region": "north",
    }


def test_an_empty_json_string_is_a_value_not_a_missing_field() -> None:
    assert _problems({"income": 1, "children": "", "region": "north"}) == [
        Problem("cases[3].fields.children", "must be a number, got str ''")
    ]


def test_an_unknown_field_is_refused_when_extra_fields_are_forbidden() -> None:
    assert _problems({"income": 1, "region": "north", "colour": "red"}) == [
        Problem(
            "cases[3].fields.colour", "unknown field; this flow's fields are income, children, name, employed, region"
        )
    ]


def test_an_unknown_field_is_dropped_when_extra_fields_are_ignored() -> None:
    flow = make_flow(extra_fields="ignore")
    case, problems = validate_case(flow, None, {"score": 0.5, "group": "a", "colour": "red"}, "cases[0]")
    assert problems == []
    assert case is not None
    assert case.fields == {"score": 0.5, "amount": None, "group": "a"}


def test_every_problem_of_a_case_is_reported_at_once() -> None:
    problems = _problems({"income": -5, "employed": "yes", "region": "west", "colour": "red"})
    assert [p.location for p in problems] == [
        "cases[3].fields.income",
        "cases[3].fields.employed",
        "cases[3].fields.region",
        "cases[3].fields.colour",
    ]


@pytest.mark.parametrize("external_id", ["x" * 201, "", 5])
def test_an_external_id_must_be_text_of_1_to_200_characters(external_id: Any) -> None:
    case, problems = validate_case(FLOW, external_id, {"income": 1, "region": "north"}, "cases[3]")
    assert case is None
    assert problems == [Problem("cases[3].external_id", "must be text of 1 to 200 characters")]


def test_an_external_id_of_200_characters_is_allowed() -> None:
    case, problems = validate_case(FLOW, "x" * 200, {"income": 1, "region": "north"}, "cases[3]")
    assert problems == []
    assert case is not None
    assert case.external_id == "x" * 200


def test_fields_must_be_an_object() -> None:
    assert validate_case(FLOW, None, [1, 2], "cases[3]") == (
        None,
        [Problem("cases[3].fields", "must be an object of field values")],
    )


def test_text_values_are_parsed_into_their_types() -> None:
    fields = {"income": " 1.5 ", "children": "3", "name": "Ann", "employed": "yes", "region": "south"}
    assert _fields(fields, text=True) == {
        "income": 1.5,
        "children": 3,
        "name": "Ann",
        "employed": True,
        "region": "south",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("Yes", True), ("1", True), ("t", True), ("false", False), (" no ", False), ("0", False)],
)
def test_text_booleans_are_parsed(text: str, expected: bool) -> None:
    assert _fields({"income": "1", "employed": text, "region": "north"}, text=True)["employed"] is expected


def test_an_unrecognised_text_boolean_is_refused() -> None:
    assert _problems({"income": "1", "employed": "maybe", "region": "north"}, text=True) == [
        Problem("cases[3].fields.employed", "must be true or false, got 'maybe'")
    ]


def test_an_empty_text_value_is_missing() -> None:
    assert _problems({"income": "", "region": "north"}, text=True) == [
        Problem("cases[3].fields.income", "required number field is missing")
    ]
    assert _fields({"income": "1", "children": " ", "name": "", "region": "north"}, text=True)["name"] is None


@pytest.mark.parametrize(("text", "shown"), [("nan", "nan"), ("inf", "inf"), ("-Infinity", "-inf")])
def test_non_finite_text_numbers_are_refused(text: str, shown: str) -> None:
    assert _problems({"income": text, "region": "north"}, text=True) == [
        Problem("cases[3].fields.income", f"must be a finite number, got {shown}")
    ]


def test_text_that_is_not_a_number_is_refused() -> None:
    assert _problems({"income": "a lot", "region": "north"}, text=True) == [
        Problem("cases[3].fields.income", "must be a number, got 'a lot'")
    ]


def test_a_text_integer_with_a_fraction_is_refused() -> None:
    assert _problems({"income": "1", "children": "3.5", "region": "north"}, text=True) == [
        Problem("cases[3].fields.children", "must be a whole number, got 3.5")
    ]


def test_groups_are_taken_from_the_normalised_fields() -> None:
    case, problems = validate_case(FLOW, None, {"income": "1", "region": "south"}, "cases[0]", text=True)
    assert problems == []
    assert case is not None
    assert case.groups == {"region": "south"}


def test_the_same_values_as_csv_text_and_as_json_have_the_same_hash() -> None:
    from_csv = _fields({"income": "1000", "children": "2", "employed": "yes", "region": "north", "name": ""}, text=True)
    from_json = _fields({"income": 1000, "children": 2.0, "employed": True, "region": "north"})
    assert payload_hash(from_csv) == payload_hash(from_json)


def test_different_values_have_different_hashes() -> None:
    assert payload_hash(_fields({"income": 1000, "region": "north"})) != payload_hash(
        _fields({"income": 1001, "region": "north"})
    )


def test_the_hash_does_not_depend_on_key_order() -> None:
    assert payload_hash({"a": 1, "b": "x"}) == payload_hash({"b": "x", "a": 1})


def test_an_integer_too_large_for_a_float_is_a_problem_not_a_crash() -> None:
    problems = _problems({"income": 10**400, "region": "north"})
    assert [p.location for p in problems] == ["cases[3].fields.income"]


def test_integers_beyond_float_precision_keep_their_exact_value() -> None:
    assert _fields({"income": 1, "children": 2**53 + 1, "region": "north"})["children"] == 2**53 + 1


def _entry(index: int, income: Any, label: Any = None) -> Entry:
    return Entry(f"cases[{index}]", None, {"income": income, "region": "north"}, label=label)


def test_a_batch_is_refused_whole_with_every_problem_where_it_stands() -> None:
    with pytest.raises(InvalidInput, match=r"^nothing was written: ") as refused:
        validate_batch(FLOW, [[_entry(0, 1), _entry(1, -1)], [_entry(2, "x")]], "nothing was written")
    assert [p.location for p in refused.value.problems] == ["cases[1].fields.income", "cases[2].fields.income"]


def test_a_valid_batch_gives_its_cases_in_order() -> None:
    batch = validate_batch(FLOW, [[_entry(0, 1)], [_entry(1, 2)]], "refused")
    assert [c.fields["income"] for c in batch.cases] == [1.0, 2.0] and batch.labels == []


def test_a_labelled_batch_needs_one_of_the_flows_labels_for_every_case() -> None:
    labels = list(FLOW.labels)
    batch = validate_batch(FLOW, [[_entry(0, 1, labels[0]), _entry(1, 2, labels[-1])]], "refused", label="answer")
    assert batch.labels == [labels[0], labels[-1]]
    with pytest.raises(InvalidInput) as refused:
        validate_batch(
            FLOW, [[_entry(0, 1, labels[0]), _entry(1, 2, "maybe"), _entry(2, 3)]], "refused", label="answer"
        )
    assert refused.value.problems == [
        Problem("cases[1].answer", f"must be one of {labels}, got 'maybe'"),
        Problem("cases[2].answer", f"must be one of {labels}, got None"),
    ]


def test_a_long_batch_stops_being_read_after_the_chunk_that_reaches_the_limit() -> None:
    read = []

    def chunks() -> Any:
        for start in range(0, 30, 10):
            read.append(start)
            yield [_entry(i, -1) for i in range(start, start + 10)]

    with pytest.raises(InvalidInput) as refused:
        validate_batch(FLOW, chunks(), "refused", limit=15)
    assert read == [0, 10] and len(refused.value.problems) == 20
