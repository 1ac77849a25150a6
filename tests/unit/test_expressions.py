"""Rules are checked when the policy loads and evaluated on whole batches, with plain rules for missing values."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from signoff.errors import InvalidInput
from signoff.routing.expressions import FieldType, compile_expression

LOCATION = "flows.fraud.rules[0].when"
SCHEMA: dict[str, FieldType] = {
    "amount": "number",
    "count": "integer",
    "country": "category",
    "name": "string",
    "vip": "boolean",
}
KNOWN = "known fields: amount, count, country, name, vip"
CALLABLE = "the allowed functions are abs, min, max, log, is_missing"


def _numbers(*values: float | None) -> npt.NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _objects(*values: object) -> npt.NDArray[Any]:
    return np.array(values, dtype=object)


def _run(text: str, **columns: npt.NDArray[Any]) -> list[bool]:
    result = compile_expression(text, SCHEMA, LOCATION).evaluate(columns)
    assert result.dtype == np.bool_
    return [bool(x) for x in result]


def _reason(text: str, schema: dict[str, FieldType] = SCHEMA) -> str:
    with pytest.raises(InvalidInput) as caught:
        compile_expression(text, schema, LOCATION)
    (problem,) = caught.value.problems
    assert problem.location == LOCATION
    return problem.reason


# --- what a rule can say ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount > 2", [False, False, True]),
        ("amount >= 2", [False, True, True]),
        ("amount < 2", [True, False, False]),
        ("amount <= 2", [True, True, False]),
        ("amount == 2", [False, True, False]),
        ("amount != 2", [True, False, True]),
    ],
)
def test_numbers_compare_with_each_operator(text: str, expected: list[bool]) -> None:
    assert _run(text, amount=_numbers(1, 2, 3)) == expected


def test_a_literal_may_stand_on_the_left() -> None:
    assert _run("2 < amount", amount=_numbers(1, 2, 3)) == [False, False, True]


def test_two_fields_compare_row_by_row() -> None:
    assert _run("amount > count", amount=_numbers(1, 5, 3), count=_numbers(2, 4, 3)) == [False, True, False]


def test_a_chained_comparison_holds_when_every_link_holds() -> None:
    rows = _numbers(1000, 1001, 5000, 5001)
    assert _run("1000 < amount <= 5000", amount=rows) == [False, True, True, False]


def test_and_needs_both_sides() -> None:
    rows = _numbers(1, 10, 10)
    assert _run("amount > 5 and count > 5", amount=rows, count=_numbers(10, 1, 10)) == [False, False, True]


def test_or_needs_either_side() -> None:
    rows = _numbers(1, 10, 1)
    assert _run("amount > 5 or count > 5", amount=rows, count=_numbers(1, 1, 10)) == [False, True, True]


def test_not_negates() -> None:
    assert _run("not amount > 5", amount=_numbers(1, 10)) == [True, False]


def test_and_binds_tighter_than_or() -> None:
    rows = _numbers(1, 1, 10)
    assert _run("amount > 5 or amount < 5 and count > 5", amount=rows, count=_numbers(1, 10, 1)) == [False, True, True]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("amount + 1 == 4", [False, True]),
        ("amount - 1 == 2", [False, True]),
        ("amount * 2 == 6", [False, True]),
        ("amount / 2 == 1.5", [False, True]),
        ("amount % 2 == 1", [False, True]),
        ("-amount == -3", [False, True]),
    ],
)
def test_arithmetic_on_numbers(text: str, expected: list[bool]) -> None:
    assert _run(text, amount=_numbers(2, 3)) == expected


def test_remainder_follows_the_sign_of_the_divisor_like_python() -> None:
    assert _run("amount % 3 == 2", amount=_numbers(-1, 2, 4)) == [True, True, False]


def test_abs() -> None:
    assert _run("abs(amount) == 3", amount=_numbers(-3, 3, 2)) == [True, True, False]


def test_min_of_two() -> None:
    assert _run("min(amount, count) == 1", amount=_numbers(1, 5), count=_numbers(4, 2)) == [True, False]


def test_max_of_three() -> None:
    assert _run("max(amount, count, 3) == 3", amount=_numbers(1, 5), count=_numbers(2, 2)) == [True, False]


def test_log_is_the_natural_log() -> None:
    assert _run("log(amount) > 1", amount=_numbers(2.7, 2.8)) == [False, True]


def test_in_a_list_of_strings() -> None:
    rows = _objects("DE", "FR", "US")
    assert _run('country in ["DE", "FR"]', country=rows) == [True, True, False]


def test_not_in_a_list_of_strings() -> None:
    rows = _objects("DE", "FR", "US")
    assert _run('country not in ["DE", "FR"]', country=rows) == [False, False, True]


def test_in_a_long_list_of_strings() -> None:
    rows = _objects("DE", "FR", "US", "PL")
    assert _run('country in ["AT", "BE", "CH", "DE", "ES", "FR"]', country=rows) == [True, True, False, False]


def test_not_in_a_long_list_of_strings() -> None:
    rows = _objects("DE", "FR", "US", "PL")
    assert _run('country not in ["AT", "BE", "CH", "DE", "ES", "FR"]', country=rows) == [False, False, True, True]


def test_in_a_list_of_numbers_with_a_negative_one() -> None:
    assert _run("amount in [-1, 2.5]", amount=_numbers(-1, 2.5, 1)) == [True, True, False]


def test_not_in_a_list_of_numbers() -> None:
    assert _run("amount not in [1, 2]", amount=_numbers(1, 2, 3)) == [False, False, True]


def test_in_a_tuple() -> None:
    assert _run('country in ("DE", "FR")', country=_objects("FR", "US")) == [True, False]


def test_strings_compare_for_equality() -> None:
    assert _run('name == "Zürich"', name=_objects("Zürich", "Zurich")) == [True, False]


def test_string_fields_order_by_code_point() -> None:
    rows = _objects("2023-12-31", "2024-01-01", "2024-06-30")
    assert _run('name >= "2024-01-01"', name=rows) == [False, True, True]


def test_a_category_equals_a_string_field() -> None:
    assert _run("country == name", country=_objects("DE", "FR"), name=_objects("DE", "DE")) == [True, False]


def test_a_boolean_field_is_a_condition() -> None:
    assert _run("vip", vip=_objects(True, False)) == [True, False]


def test_a_boolean_field_compares_with_false() -> None:
    assert _run("vip == False", vip=_objects(True, False)) == [False, True]


def test_a_boolean_field_in_a_list_of_booleans() -> None:
    assert _run("vip in [True]", vip=_objects(True, False)) == [True, False]


def test_a_comparison_result_compares_with_a_boolean_field() -> None:
    rows = _objects(True, False, True)
    assert _run("(amount > 5) == vip", amount=_numbers(10, 10, 1), vip=rows) == [True, False, False]


def test_a_boolean_column_may_arrive_as_a_bool_array() -> None:
    assert _run("not vip", vip=np.array([True, False])) == [False, True]


def test_an_integer_field_compares_as_a_number() -> None:
    assert _run("count >= 2", count=_numbers(1, 2)) == [False, True]


def test_a_number_column_may_arrive_as_integers() -> None:
    assert _run("amount > 1", amount=np.array([1, 2], dtype=np.int64)) == [False, True]


def test_a_rule_that_reads_no_field_gives_one_answer_per_row() -> None:
    assert _run("True", amount=_numbers(1, 2, 3)) == [True, True, True]


def test_a_rule_may_span_lines_inside_parentheses() -> None:
    assert _run("(amount > 1\n and amount < 3)", amount=_numbers(1, 2, 3)) == [False, True, False]


def test_leading_blanks_are_ignored() -> None:
    assert _run("  amount > 1", amount=_numbers(1, 2)) == [False, True]


def test_an_expression_knows_the_fields_it_reads() -> None:
    expression = compile_expression('amount > 5 and country in ["DE"] or amount < 0', SCHEMA, LOCATION)
    assert expression.fields == frozenset({"amount", "country"})


def test_an_expression_keeps_its_text() -> None:
    assert compile_expression("amount > 5", SCHEMA, LOCATION).text == "amount > 5"


def test_evaluation_gives_a_fresh_bool_array_of_one_value_per_row() -> None:
    rows = _numbers(1, 2, 3)
    result = compile_expression("amount > 1", SCHEMA, LOCATION).evaluate({"amount": rows})
    assert (result.dtype, result.shape) == (np.dtype(np.bool_), (3,))


def test_a_million_rows_match_a_direct_numpy_computation() -> None:
    rng = np.random.default_rng(20240601)
    n = 1_000_000
    amount = rng.uniform(0, 100_000, n)
    amount[rng.random(n) < 0.01] = np.nan
    country = np.array(["DE", "FR", "US", "GB", None], dtype=object)[rng.integers(0, 5, n)]
    expression = compile_expression('amount > 50000 and country in ["DE", "FR"]', SCHEMA, LOCATION)
    result = expression.evaluate({"amount": amount, "country": country})
    expected = (amount > 50000) & ((country == "DE") | (country == "FR"))
    assert result.shape == (n,)
    assert np.array_equal(result, expected)


# --- missing values --------------------------------------------------------------------------------------


def test_a_comparison_with_a_missing_number_is_false() -> None:
    assert _run("amount > 5", amount=_numbers(None, 10)) == [False, True]


def test_not_of_a_comparison_with_a_missing_number_is_true() -> None:
    assert _run("not (amount > 5)", amount=_numbers(None, 10)) == [True, False]


def test_not_equal_with_a_missing_number_is_false() -> None:
    assert _run("amount != 5", amount=_numbers(None, 5, 6)) == [False, False, True]


def test_a_chained_comparison_with_a_missing_value_is_false() -> None:
    assert _run("0 < amount < 10", amount=_numbers(None, 5)) == [False, True]


def test_not_equal_with_a_missing_string_is_false() -> None:
    assert _run('country != "DE"', country=_objects(None, "DE", "FR")) == [False, False, True]


def test_two_missing_strings_are_not_equal() -> None:
    assert _run("country == name", country=_objects(None, "DE"), name=_objects(None, "DE")) == [False, True]


def test_ordering_with_a_missing_string_is_false() -> None:
    assert _run('name < "m"', name=_objects(None, "a", "z")) == [False, True, False]


def test_in_is_false_for_a_missing_value() -> None:
    assert _run('country in ["DE"]', country=_objects(None, "DE")) == [False, True]


def test_not_in_is_false_for_a_missing_string() -> None:
    assert _run('country not in ["DE"]', country=_objects(None, "FR")) == [False, True]


def test_not_in_is_false_for_a_missing_number() -> None:
    assert _run("amount not in [1]", amount=_numbers(None, 2)) == [False, True]


def test_a_missing_boolean_field_is_not_true() -> None:
    assert _run("vip", vip=_objects(None, True)) == [False, True]


def test_not_of_a_missing_boolean_field_is_true() -> None:
    assert _run("not vip", vip=_objects(None, True)) == [True, False]


def test_a_missing_boolean_field_is_not_false_either() -> None:
    assert _run("vip == False", vip=_objects(None, False)) == [False, True]


def test_is_missing_finds_missing_numbers() -> None:
    assert _run("is_missing(amount)", amount=_numbers(None, 0)) == [True, False]


def test_is_missing_finds_missing_strings() -> None:
    assert _run("is_missing(country)", country=_objects(None, "")) == [True, False]


def test_is_missing_finds_missing_booleans() -> None:
    assert _run("is_missing(vip)", vip=_objects(None, False)) == [True, False]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("country == None", [True, False]),
        ("country is None", [True, False]),
        ("None == country", [True, False]),
        ("country != None", [False, True]),
        ("country is not None", [False, True]),
    ],
)
def test_comparing_with_none_tests_for_missing(text: str, expected: list[bool]) -> None:
    assert _run(text, country=_objects(None, "DE")) == expected


def test_arithmetic_passes_missing_values_on() -> None:
    assert _run("is_missing(amount + 1)", amount=_numbers(None, 1)) == [True, False]


def test_min_of_a_missing_value_is_missing() -> None:
    assert _run("is_missing(min(amount, 1))", amount=_numbers(None, 5)) == [True, False]


def test_division_by_zero_is_missing() -> None:
    assert _run("is_missing(amount / count)", amount=_numbers(1, 0, 4), count=_numbers(0, 0, 2)) == [True, True, False]


def test_remainder_by_zero_is_missing() -> None:
    assert _run("is_missing(amount % count)", amount=_numbers(1, 4), count=_numbers(0, 3)) == [True, False]


def test_a_division_of_literals_by_zero_is_missing() -> None:
    assert _run("is_missing(1 / 0)", amount=_numbers(1)) == [True]


def test_log_of_zero_or_less_is_missing() -> None:
    assert _run("is_missing(log(amount))", amount=_numbers(-1, 0, 1)) == [True, True, False]


# --- evaluation needs its columns ------------------------------------------------------------------------


def test_a_column_the_rule_reads_must_be_given() -> None:
    expression = compile_expression("amount > 1", SCHEMA, LOCATION)
    with pytest.raises(InvalidInput) as caught:
        expression.evaluate({"count": _numbers(1)})
    assert [str(p) for p in caught.value.problems] == ["amount: the rule reads this column but it was not given"]


def test_columns_must_have_one_length() -> None:
    expression = compile_expression("amount > count", SCHEMA, LOCATION)
    with pytest.raises(InvalidInput) as caught:
        expression.evaluate({"amount": _numbers(1, 2), "count": _numbers(1)})
    assert [str(p) for p in caught.value.problems] == [
        "count: the column has shape (1,); expected (2,) like the others"
    ]


# --- what a rule cannot say ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("__import__('os')", f"column 1: calling __import__() is not allowed; {CALLABLE}"),
        ("open('x')", f"column 1: calling open() is not allowed; {CALLABLE}"),
        ("eval('1') == 1", f"column 1: calling eval() is not allowed; {CALLABLE}"),
        ("getattr(amount, 'real') > 1", f"column 1: calling getattr() is not allowed; {CALLABLE}"),
        ("amount.__class__", "column 1: attribute access (.__class__) is not allowed"),
        ("__import__('os').system('ls')", "column 1: attribute access (.system) is not allowed"),
        ("(lambda: 1)() == 1", "column 2: lambda functions are not allowed"),
        ("(1)(2)", "column 1: only the functions abs, min, max, log, is_missing can be called"),
        ("[x for x in y]", "column 1: comprehensions are not allowed"),
        ("(x for x in amount)", "column 1: comprehensions and generator expressions are not allowed"),
        ("lambda: 1", "column 1: lambda functions are not allowed"),
        ("amount[0] > 1", "column 1: subscripts and indexing (x[...]) are not allowed"),
        ("(x := 1)", "column 2: assignment expressions (:=) are not allowed"),
        ("f'{amount}' == '1'", "column 1: f-strings are not allowed"),
        ("min(*[1, 2]) > 1", "column 5: starred expressions (*x) are not allowed"),
        ("min(a=1, b=2) > 1", "column 7: keyword arguments are not allowed in min()"),
        ("1 if vip else 2", "column 1: conditional expressions (a if c else b) are not allowed"),
        ("{'a': 1}", "column 1: dict literals are not allowed"),
        ("amount in {1, 2}", 'column 11: set literals are not allowed; write a list such as ["DE", "FR"]'),
        ("__builtins__", "column 1: names starting with a double underscore (__builtins__) are not allowed"),
        ("b'x' == name", "column 1: bytes literals are not allowed"),
        ("1j == amount", "column 1: complex numbers are not allowed"),
        ("... == amount", "column 1: the literal Ellipsis is not allowed"),
    ],
)
def test_a_disallowed_construct_is_named(text: str, reason: str) -> None:
    assert _reason(text) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("amount ** 2 > 1", "column 1: the operator ** is not allowed; allowed are + - * / %"),
        ("amount // 2 > 1", "column 1: the operator // is not allowed; allowed are + - * / %"),
        ("amount @ 2 > 1", "column 1: the operator @ is not allowed; allowed are + - * / %"),
        ("amount & 1 > 0", "column 1: the operator & is not allowed; allowed are + - * / %; use and, or, not"),
        ("~vip", "column 1: the operator ~ is not allowed; use not"),
        ("+amount > 1", "column 1: the operator unary + is not allowed"),
        ("amount is 1", "column 11: is only works with None; use == or != to compare values"),
    ],
)
def test_a_disallowed_operator_is_named(text: str, reason: str) -> None:
    assert _reason(text) == reason


def test_a_syntax_error_gives_its_column() -> None:
    assert _reason("amount > > 1") == "column 10: syntax error: invalid syntax"


def test_a_syntax_error_counts_characters_not_bytes() -> None:
    assert _reason("name == 'Zürich' +* 2") == "column 19: syntax error: invalid syntax"


def test_a_rule_that_ends_too_early_says_so() -> None:
    assert _reason("amount >") == "column 9: syntax error: invalid syntax (the rule ends too early)"


def test_an_unclosed_parenthesis_is_a_syntax_error() -> None:
    assert _reason("amount > 1 and (vip") == "column 16: syntax error: '(' was never closed"


def test_a_syntax_error_on_a_later_line_gives_line_and_column() -> None:
    assert _reason("amount\n> 1") == "line 2, column 1: syntax error: invalid syntax"


def test_a_problem_carries_its_position_in_details() -> None:
    with pytest.raises(InvalidInput) as caught:
        compile_expression("amount > 1 and nope", SCHEMA, LOCATION)
    assert caught.value.problems[0].details == {"line": 1, "column": 16}


def test_columns_count_from_the_first_character_before_leading_blanks() -> None:
    assert _reason("  amount.real > 1") == "column 3: attribute access (.real) is not allowed"


def test_an_empty_rule_is_refused() -> None:
    assert _reason("   ") == "the rule is empty"


def test_a_null_character_is_refused() -> None:
    assert _reason("amount > 1\x00") == "the rule contains a null character"


def test_an_unknown_field_lists_the_known_ones() -> None:
    assert _reason("weight > 2") == f"column 1: unknown field 'weight'; {KNOWN}"


def test_an_unknown_field_suggests_a_close_one() -> None:
    assert _reason("amout > 1") == f"column 1: unknown field 'amout' (did you mean 'amount'?); {KNOWN}"


def test_an_unknown_field_on_a_later_line_gives_line_and_column() -> None:
    reason = _reason("(amount > 1\n  and nmae == 'x')")
    assert reason == f"line 2, column 7: unknown field 'nmae' (did you mean 'name'?); {KNOWN}"


def test_an_unknown_field_with_an_empty_schema() -> None:
    assert _reason("x > 1", {}) == "column 1: unknown field 'x'; known fields: none"


def test_an_unknown_field_type_in_the_schema_is_refused() -> None:
    schema: dict[str, Any] = {"when": "date"}
    assert _reason("when > 1", schema) == "field 'when' has the unknown type 'date'"


# --- type errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("country == 5", "column 1: cannot compare 'country' (a category) with '5' (a number)"),
        ("name > 5", "column 1: cannot compare 'name' (a string) with '5' (a number)"),
        ("amount == 'DE'", "column 1: cannot compare 'amount' (a number) with \"'DE'\" (a string)"),
        ("vip == 1", "column 1: cannot compare 'vip' (a true/false field) with '1' (a number)"),
        (
            "country < 'M'",
            "column 1: 'country' is a category; categories have no order, so < does not apply",
        ),
        ("vip > True", "column 1: > cannot order true/false values"),
    ],
)
def test_a_comparison_of_wrong_types_is_refused(text: str, reason: str) -> None:
    assert _reason(text) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name + 'x' == 'ax'", "column 1: + needs numbers, but 'name' is a string"),
        ("country - 1 > 0", "column 1: - needs numbers, but 'country' is a category"),
        ("vip + 1 > 1", "column 1: + needs numbers, but 'vip' is a true/false field"),
        ("-country == 'x'", "column 2: unary - needs numbers, but 'country' is a category"),
        ("abs(name) > 1", "column 5: abs() needs numbers, but 'name' is a string"),
        ("log(vip) > 1", "column 5: log() needs numbers, but 'vip' is a true/false field"),
    ],
)
def test_arithmetic_on_a_non_number_is_refused(text: str, reason: str) -> None:
    assert _reason(text) == reason


def test_a_list_of_mixed_types_is_refused() -> None:
    assert (
        _reason("country in ['DE', 1]")
        == "column 12: the list mixes numbers and strings; all its items must be of one type"
    )


def test_a_list_of_the_wrong_type_is_refused() -> None:
    assert _reason("country in [1, 2]") == "column 1: cannot look for 'country' (a category) in a list of numbers"


def test_a_list_item_must_be_a_literal() -> None:
    assert _reason("amount in [count]") == "column 12: list items must be literals (numbers, strings, True or False)"


def test_none_in_a_list_is_refused() -> None:
    reason = _reason("country in ['DE', None]")
    assert reason == "column 19: None cannot be in a list; test for missing values with is_missing(x)"


def test_an_empty_list_is_refused() -> None:
    assert _reason("amount in []") == "column 11: the list is empty"


def test_in_needs_a_list_on_its_right() -> None:
    assert _reason("'DE' in country") == 'column 9: in needs a list of literals on its right, such as ["DE", "FR"]'


def test_a_list_outside_in_is_refused() -> None:
    assert _reason("[1] == amount") == "column 1: a list can only come after in or not in"


def test_a_rule_giving_a_number_is_refused() -> None:
    assert _reason("amount + 1") == "column 1: the rule must give true or false, but 'amount + 1' is a number"


def test_a_rule_giving_a_string_field_is_refused() -> None:
    assert _reason("name") == "column 1: the rule must give true or false, but 'name' is a string"


def test_and_of_a_non_boolean_is_refused() -> None:
    assert _reason("amount > 1 and country") == "column 16: and needs true/false values, but 'country' is a category"


def test_not_of_a_number_is_refused() -> None:
    assert _reason("not amount") == "column 5: not needs true/false values, but 'amount' is a number"


def test_ordering_with_none_is_refused() -> None:
    reason = _reason("amount < None")
    assert reason == "column 1: < cannot compare with None; test for missing values with is_missing(x)"


def test_none_with_none_is_refused() -> None:
    assert _reason("None == None") == "column 1: None cannot be compared with None"


def test_is_missing_of_a_comparison_is_refused() -> None:
    reason = _reason("is_missing(amount > 1)")
    assert reason == "column 12: is_missing() needs a field or a number; 'amount > 1' is true/false"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("min(amount) > 1", "column 1: min() needs at least two arguments, got 1"),
        ("abs(amount, count) > 1", "column 1: abs() needs exactly one argument, got 2"),
        ("is_missing()", "column 1: is_missing() needs exactly one argument, got 0"),
    ],
)
def test_a_function_with_the_wrong_number_of_arguments_is_refused(text: str, reason: str) -> None:
    assert _reason(text) == reason


def test_a_number_too_large_for_a_float_is_refused() -> None:
    assert _reason("amount < 1e999") == "column 10: the number is too large"


# --- limits ----------------------------------------------------------------------------------------------


def test_a_rule_of_1000_characters_is_accepted() -> None:
    text = "amount > 1" + " " * 990
    assert compile_expression(text, SCHEMA, LOCATION).fields == frozenset({"amount"})


def test_a_rule_longer_than_1000_characters_is_refused() -> None:
    assert _reason("amount > 1" + " " * 991) == "the rule is 1001 characters long; at most 1000 are allowed"


def test_nesting_32_deep_is_accepted() -> None:
    assert _run("not " * 31 + "vip", vip=_objects(True, False)) == [False, True]


def test_nesting_deeper_than_32_is_refused() -> None:
    assert _reason("not " * 32 + "vip") == "column 129: the rule nests deeper than 32 levels"
