"""The business-rule language of flow files, compiled once when the policy loads and run on whole batches.

A rule such as ``amount > 50000 and country not in ["DE", "FR"]`` is parsed with :func:`ast.parse` (never run
with ``eval``/``exec``), walked against a strict whitelist of node types, checked against the flow's field
types, and turned into a tree of numpy operations. ``Expression.evaluate`` then computes one boolean mask for
a whole batch without a per-row Python loop.

Why our own compiler and not a library: none of the candidates is all of safe, vectorised, typed and precise
about errors. ``simpleeval``, ``asteval``, ``rule-engine`` and ``cel-python`` evaluate one row at a time;
``numexpr`` is vectorised but numeric only (no strings in object arrays, no None) and hands the text to
Python's ``compile``/``eval`` behind a sanitiser that has been bypassed (CVE-2023-39631 and later fixes);
``pandas.eval`` is documented as no security boundary; SQL engines (DuckDB, Polars) bring a large surface
(file readers, extensions) into a rule. None of them checks a rule against a schema of field types when the
policy loads. The language is small enough that a whitelist over the standard ``ast`` module, where every
accepted node maps to one numpy call, is the smaller risk.

The language:

* field names of the schema; numbers, strings, ``True``/``False``/``None``; lists or tuples of literals
  (only after ``in`` / ``not in``);
* comparisons ``== != < <= > >=``, chained ones (``1000 < amount <= 5000``), ``in`` and ``not in``;
  ordering works on numbers and on ``string`` fields (by code point), not on ``category`` fields;
* ``and``, ``or``, ``not``; ``+ - * / %`` and unary minus on numbers (``**`` is not part of it);
* the functions ``abs(x)``, ``min(a, b, ...)``, ``max(a, b, ...)``, ``log(x)`` (natural log) and
  ``is_missing(x)``.

Missing values, said plainly: a missing value (NaN for numbers, None otherwise) makes every comparison it takes
part in False, and ``in``/``not in`` as well. Nothing else is "unknown": ``and``, ``or`` and ``not`` work on the
plain True/False results of the comparisons. So when ``amount`` is missing, ``amount > 5`` is False and
``not (amount > 5)`` is True; ``amount != 5`` is False too, so ``amount != 5`` and ``not (amount == 5)`` differ
on missing rows. This is SQL's "unknown is not true" at the level of each comparison only, not SQL's
three-valued logic. A ``boolean`` field used as a condition on its own counts as ``field == True``. Ask for
missing values explicitly with ``is_missing(x)``; ``x == None`` and ``x is None`` mean the same, and
``x != None`` and ``x is not None`` mean ``not is_missing(x)``. Arithmetic passes missing values on; division
or ``%`` by zero and ``log`` of a non-positive number give a missing value, never an error or a warning.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import reduce
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from signoff.errors import InvalidInput, Problem

__all__ = ["FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "Expression", "FieldType", "compile_expression"]

FieldType = Literal["number", "integer", "string", "boolean", "category"]

MAX_LENGTH = 1000
MAX_DEPTH = 32
FUNCTIONS = ("abs", "min", "max", "log", "is_missing")

# Above this many strings, ``in`` tests set membership in one pass instead of one comparison per string.
_EQUALITY_CHAIN_LIMIT = 4

Mask = npt.NDArray[np.bool_]
# A value at run time: a numpy array of the batch, or a numpy scalar that broadcasts against it.
_Value = Any
_Frame = dict[str, _Value]
_Run = Callable[[_Frame], _Value]
_Item = str | float | bool
_NONE: Any = None  # numpy compares object arrays with it element by element


class _Kind(Enum):
    """The static type of a sub-expression; the value is how messages name it."""

    NUMBER = "a number"
    STRING = "a string"
    CATEGORY = "a category"
    FLAG = "a true/false field"  # a boolean field: float64 1.0/0.0/NaN at run time, so it can be missing
    BOOL = "true/false"  # a comparison or logic result: a plain bool array, never missing
    NULL = "None"
    LIST = "a list"


_FIELD_KINDS: dict[str, _Kind] = {
    "number": _Kind.NUMBER,
    "integer": _Kind.NUMBER,
    "string": _Kind.STRING,
    "category": _Kind.CATEGORY,
    "boolean": _Kind.FLAG,
}
_TEXTS = (_Kind.STRING, _Kind.CATEGORY)
_TRUTHS = (_Kind.BOOL, _Kind.FLAG)
_MAYBE_MISSING = (_Kind.NUMBER, _Kind.STRING, _Kind.CATEGORY, _Kind.FLAG)


class _Operator(NamedTuple):
    symbol: str  # as a rule writes it, for messages
    ufunc: np.ufunc | None = None  # what computes it on arrays; None where it is refused, or (in, is) not a ufunc


_OPERATORS: dict[type[ast.AST], _Operator] = {
    ast.Eq: _Operator("==", np.equal),
    ast.NotEq: _Operator("!=", np.not_equal),
    ast.Lt: _Operator("<", np.less),
    ast.LtE: _Operator("<=", np.less_equal),
    ast.Gt: _Operator(">", np.greater),
    ast.GtE: _Operator(">=", np.greater_equal),
    ast.In: _Operator("in"),
    ast.NotIn: _Operator("not in"),
    ast.Is: _Operator("is"),
    ast.IsNot: _Operator("is not"),
    ast.Add: _Operator("+", np.add),
    ast.Sub: _Operator("-", np.subtract),
    ast.Mult: _Operator("*", np.multiply),
    ast.Div: _Operator("/", np.true_divide),
    ast.Mod: _Operator("%", np.remainder),
    ast.Pow: _Operator("**"),
    ast.FloorDiv: _Operator("//"),
    ast.MatMult: _Operator("@"),
    ast.BitAnd: _Operator("&"),
    ast.BitOr: _Operator("|"),
    ast.BitXor: _Operator("^"),
    ast.LShift: _Operator("<<"),
    ast.RShift: _Operator(">>"),
    ast.Invert: _Operator("~"),
    ast.UAdd: _Operator("unary +"),
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_BITWISE = (ast.BitAnd, ast.BitOr, ast.BitXor, ast.Invert)

_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Subscript: "subscripts and indexing (x[...]) are not allowed",
    ast.Slice: "slices are not allowed",
    ast.Lambda: "lambda functions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions and generator expressions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Starred: "starred expressions (*x) are not allowed",
    ast.IfExp: "conditional expressions (a if c else b) are not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Set: 'set literals are not allowed; write a list such as ["DE", "FR"]',
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}


@dataclass(frozen=True)
class Expression:
    """A compiled rule: checked against the schema once, then evaluated on whole batches."""

    text: str
    fields: frozenset[str]
    field_kinds: tuple[tuple[str, FieldType], ...] = field(repr=False)
    _run: _Run = field(repr=False, compare=False)

    def evaluate(self, columns: Mapping[str, npt.NDArray[Any]]) -> Mask:
        """The rule's verdict for every row: a new bool array of shape (n,).

        Numeric fields are float64 with NaN for missing; string, category and boolean fields are object
        arrays with None for missing. Every column the rule reads must be there, all of the same length.
        """
        n = _row_count(self.fields, columns)
        frame = {name: _load(name, _FIELD_KINDS[kind], columns[name], n) for name, kind in self.field_kinds}
        with np.errstate(all="ignore"):
            result = self._run(frame)
        mask = np.asarray(result, dtype=np.bool_)
        if mask.shape != (n,):
            return np.full(n, bool(mask), dtype=np.bool_)
        return mask


def compile_expression(text: str, schema: Mapping[str, FieldType], location: str) -> Expression:
    """Parse, check and compile ``text``; every problem is an ``InvalidInput`` at ``location``."""
    compiler = _Compiler(text, schema, location)
    run = compiler.compile()
    kinds = tuple(sorted((name, schema[name]) for name in compiler.read))
    return Expression(text, frozenset(compiler.read), kinds, run)


# --- compiling -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    """A checked sub-expression: its static kind and the function that computes it for a frame."""

    kind: _Kind
    run: _Run
    source: ast.AST
    items: tuple[_Item, ...] = ()  # the literals of a list
    item_kind: _Kind | None = None


class _Compiler:
    """Walks the syntax tree of one rule; the first problem found ends the walk."""

    def __init__(self, text: str, schema: Mapping[str, FieldType], location: str) -> None:
        self.location = location
        self.schema = schema
        self.text = text if isinstance(text, str) else ""
        self.body = self.text.lstrip(" \t")  # Python refuses leading blanks; a rule need not care
        self.shift = len(self.text) - len(self.body)
        self.read: set[str] = set()
        if not isinstance(text, str):
            raise self._problem_at(None, f"a rule must be text, not {type(text).__name__}")
        unknown_types = sorted(name for name, kind in schema.items() if kind not in _FIELD_KINDS)
        if unknown_types:
            name = unknown_types[0]
            raise self._problem_at(None, f"field {name!r} has the unknown type {schema[name]!r}")

    def compile(self) -> _Run:
        if not self.body.strip():
            raise self._problem_at(None, "the rule is empty")
        if "\x00" in self.text:
            raise self._problem_at(None, "the rule contains a null character")
        if len(self.text) > MAX_LENGTH:
            raise self._problem_at(
                None, f"the rule is {len(self.text)} characters long; at most {MAX_LENGTH} are allowed"
            )
        tree = self._parse()
        node = self._compile(tree.body, 1)
        if node.kind not in _TRUTHS:
            raise self._problem(node.source, f"the rule must give true or false, but {self._named(node)}")
        return _truth(node)

    def _parse(self) -> ast.Expression:
        try:
            return ast.parse(self.body, mode="eval")
        except SyntaxError as error:
            raise self._syntax_error(error) from None
        except (ValueError, RecursionError, MemoryError) as error:
            raise self._problem_at(None, f"the rule cannot be parsed: {error}") from None

    def _syntax_error(self, error: SyntaxError) -> InvalidInput:
        lines = self.body.split("\n")
        line = min(max(error.lineno or 1, 1), len(lines))
        offset = error.offset or 0
        ending = ""
        if offset < 1:  # Python reports no column when the text ends too early
            offset, ending = len(lines[line - 1].rstrip("\r")) + 1, " (the rule ends too early)"
        column = offset + (self.shift if line == 1 else 0)
        return self._problem_at((line, column), f"syntax error: {error.msg}{ending}")

    # where and why

    def _problem(self, node: ast.AST, reason: str) -> InvalidInput:
        line = getattr(node, "lineno", 1)
        offset = getattr(node, "col_offset", 0)
        source_line = self.body.split("\n")[line - 1]
        # col_offset counts UTF-8 bytes; people count characters.
        column = len(source_line.encode()[:offset].decode(errors="ignore")) + 1
        return self._problem_at((line, column + (self.shift if line == 1 else 0)), reason)

    def _problem_at(self, position: tuple[int, int] | None, reason: str) -> InvalidInput:
        details: dict[str, Any] = {}
        if position is not None:
            line, column = position
            where = f"line {line}, column {column}" if "\n" in self.body.strip() else f"column {column}"
            reason = f"{where}: {reason}"
            details = {"line": line, "column": column}
        return InvalidInput([Problem(self.location, reason, details)])

    def _quote(self, node: ast.AST) -> str:
        return repr(ast.get_source_segment(self.body, node) or ast.unparse(node))

    def _named(self, node: _Node) -> str:
        return f"{self._quote(node.source)} is {node.kind.value}"

    def _described(self, node: _Node) -> str:
        return f"{self._quote(node.source)} ({node.kind.value})"

    # the walk

    def _compile(self, node: ast.AST, depth: int) -> _Node:
        if depth > MAX_DEPTH:
            raise self._problem(node, f"the rule nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.List | ast.Tuple):
            return self._list(node)
        if isinstance(node, ast.Compare):
            return self._compare(node, depth)
        if isinstance(node, ast.BoolOp):
            return self._bool_op(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node, depth)
        if isinstance(node, ast.BinOp):
            return self._binary(node, depth)
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        if isinstance(node, ast.Attribute):
            raise self._problem(node, f"attribute access (.{node.attr}) is not allowed")
        raise self._problem(node, _FORBIDDEN.get(type(node), f"{type(node).__name__} expressions are not allowed"))

    def _constant(self, node: ast.Constant) -> _Node:
        value = node.value
        if isinstance(value, bool):
            truth = np.bool_(value)
            return _Node(_Kind.BOOL, lambda _: truth, node)
        if isinstance(value, int | float):
            number = self._number(node, value)
            return _Node(_Kind.NUMBER, lambda _: number, node)
        if isinstance(value, str):
            return _Node(_Kind.STRING, lambda _: value, node)
        if value is None:
            return _Node(_Kind.NULL, lambda _: None, node)
        if isinstance(value, bytes):
            raise self._problem(node, "bytes literals are not allowed")
        if isinstance(value, complex):
            raise self._problem(node, "complex numbers are not allowed")
        raise self._problem(node, f"the literal {value!r} is not allowed")

    def _number(self, node: ast.AST, value: float) -> np.float64:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise self._problem(node, "the number is too large")
        return np.float64(number)

    def _name(self, node: ast.Name) -> _Node:
        name = node.id
        if name.startswith("__"):
            raise self._problem(node, f"names starting with a double underscore ({name}) are not allowed")
        if name not in self.schema:
            known = sorted(self.schema)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            listed = ", ".join(known) if known else "none"
            raise self._problem(node, f"unknown field {name!r}{hint}; known fields: {listed}")
        self.read.add(name)
        return _Node(_FIELD_KINDS[self.schema[name]], lambda frame: frame[name], node)

    def _list(self, node: ast.List | ast.Tuple) -> _Node:
        items: list[_Item] = []
        kinds: set[_Kind] = set()
        for element in node.elts:
            if isinstance(element, ast.Starred):
                raise self._problem(element, _FORBIDDEN[ast.Starred])
            value = self._literal(element)
            if value is None:
                raise self._problem(element, "None cannot be in a list; test for missing values with is_missing(x)")
            if isinstance(value, bool):
                kinds.add(_Kind.BOOL)
            else:
                kinds.add(_Kind.STRING if isinstance(value, str) else _Kind.NUMBER)
            items.append(value)
        if not items:
            raise self._problem(node, "the list is empty")
        if len(kinds) > 1:
            names = " and ".join(sorted(_plural(kind) for kind in kinds))
            raise self._problem(node, f"the list mixes {names}; all its items must be of one type")
        return _Node(_Kind.LIST, lambda _: None, node, tuple(items), kinds.pop())

    def _literal(self, node: ast.AST) -> _Item | None:
        """A list item: a literal, or a negated number literal."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            inner = node.operand.value
            if isinstance(inner, int | float) and not isinstance(inner, bool):
                return float(-self._number(node, inner))
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool | str) or value is None:
                return value
            if isinstance(value, int | float):
                return float(self._number(node, value))
        raise self._problem(node, "list items must be literals (numbers, strings, True or False)")

    def _compare(self, node: ast.Compare, depth: int) -> _Node:
        operands = [self._compile(operand, depth + 1) for operand in [node.left, *node.comparators]]
        tests = [self._pair(operands[i], op, operands[i + 1]) for i, op in enumerate(node.ops)]
        runs = [operand.run for operand in operands]

        def run(frame: _Frame) -> _Value:
            values = [compute(frame) for compute in runs]  # each operand once, as Python's chains do
            return reduce(np.logical_and, (test(values[i], values[i + 1]) for i, test in enumerate(tests)))

        return _Node(_Kind.BOOL, run, node)

    def _pair(self, left: _Node, op: ast.cmpop, right: _Node) -> Callable[[_Value, _Value], _Value]:
        symbol, ufunc = _OPERATORS[type(op)]
        if left.kind is _Kind.LIST:
            raise self._problem(left.source, "a list can only come after in or not in")
        if isinstance(op, ast.In | ast.NotIn):
            return self._membership(left, op, right)
        if right.kind is _Kind.LIST:
            raise self._problem(right.source, "a list can only come after in or not in")
        if _Kind.NULL in (left.kind, right.kind):
            return self._missing_test(left, op, right)
        if ufunc is None:  # is, is not: in and not in are answered above
            raise self._problem(right.source, f"{symbol} only works with None; use == or != to compare values")
        numbers = left.kind is _Kind.NUMBER and right.kind is _Kind.NUMBER
        if numbers or (left.kind in _TRUTHS and right.kind in _TRUTHS):
            if not numbers and isinstance(op, _ORDERING):
                raise self._problem(left.source, f"{symbol} cannot order true/false values")
            return _compare_numbers(ufunc, isinstance(op, ast.NotEq), left.kind, right.kind)
        if left.kind in _TEXTS and right.kind in _TEXTS:
            if isinstance(op, _ORDERING):
                for side in (left, right):
                    if side.kind is _Kind.CATEGORY:
                        raise self._problem(
                            side.source, f"{self._named(side)}; categories have no order, so {symbol} does not apply"
                        )
            return _compare_texts(ufunc, isinstance(op, ast.Eq))
        raise self._problem(left.source, f"cannot compare {self._described(left)} with {self._described(right)}")

    def _missing_test(self, left: _Node, op: ast.cmpop, right: _Node) -> Callable[[_Value, _Value], _Value]:
        symbol = _OPERATORS[type(op)].symbol
        if not isinstance(op, ast.Eq | ast.NotEq | ast.Is | ast.IsNot):
            raise self._problem(
                left.source, f"{symbol} cannot compare with None; test for missing values with is_missing(x)"
            )
        other, on_left = (right, False) if left.kind is _Kind.NULL else (left, True)
        if other.kind is _Kind.NULL:
            raise self._problem(left.source, "None cannot be compared with None")
        if other.kind not in _MAYBE_MISSING:
            raise self._problem(
                other.source, f"only values that can be missing can be compared with None; {self._named(other)}"
            )
        missing = _missing_of(other.kind)
        wanted = isinstance(op, ast.Eq | ast.Is)

        def test(a: _Value, b: _Value) -> _Value:
            found = missing(a if on_left else b)
            return found if wanted else np.logical_not(found)

        return test

    def _membership(self, left: _Node, op: ast.cmpop, right: _Node) -> Callable[[_Value, _Value], _Value]:
        symbol = _OPERATORS[type(op)].symbol
        if right.kind is not _Kind.LIST or right.item_kind is None:
            raise self._problem(right.source, f'{symbol} needs a list of literals on its right, such as ["DE", "FR"]')
        wanted = {_Kind.NUMBER: _Kind.NUMBER, _Kind.STRING: _Kind.STRING, _Kind.CATEGORY: _Kind.STRING}
        item_kind = wanted.get(left.kind, _Kind.BOOL if left.kind in _TRUTHS else None)
        if item_kind is not right.item_kind:
            items = _plural(right.item_kind)
            raise self._problem(left.source, f"cannot look for {self._described(left)} in a list of {items}")
        return _member_test(left.kind, right.items, isinstance(op, ast.NotIn))

    def _bool_op(self, node: ast.BoolOp, depth: int) -> _Node:
        word = "and" if isinstance(node.op, ast.And) else "or"
        operands = [self._truth_operand(value, word, depth) for value in node.values]
        combine = np.logical_and if word == "and" else np.logical_or
        return _Node(_Kind.BOOL, lambda frame: reduce(combine, (run(frame) for run in operands)), node)

    def _truth_operand(self, node: ast.AST, word: str, depth: int) -> _Run:
        operand = self._compile(node, depth + 1)
        if operand.kind not in _TRUTHS:
            raise self._problem(node, f"{word} needs true/false values, but {self._named(operand)}")
        return _truth(operand)

    def _unary(self, node: ast.UnaryOp, depth: int) -> _Node:
        if isinstance(node.op, ast.Not):
            run = self._truth_operand(node.operand, "not", depth)
            return _Node(_Kind.BOOL, lambda frame: np.logical_not(run(frame)), node)
        if isinstance(node.op, ast.USub):
            operand = self._numeric(node.operand, "unary -", depth)
            return _Node(_Kind.NUMBER, lambda frame: np.negative(operand(frame)), node)
        symbol = _OPERATORS[type(node.op)].symbol
        hint = "; use not" if isinstance(node.op, ast.Invert) else ""
        raise self._problem(node, f"the operator {symbol} is not allowed{hint}")

    def _numeric(self, node: ast.AST, what: str, depth: int) -> _Run:
        operand = self._compile(node, depth + 1)
        if operand.kind is not _Kind.NUMBER:
            raise self._problem(node, f"{what} needs numbers, but {self._named(operand)}")
        return operand.run

    def _binary(self, node: ast.BinOp, depth: int) -> _Node:
        symbol, ufunc = _OPERATORS[type(node.op)]
        if ufunc is None:
            hint = "; use and, or, not" if isinstance(node.op, _BITWISE) else ""
            raise self._problem(node, f"the operator {symbol} is not allowed; allowed are + - * / %{hint}")
        left = self._numeric(node.left, symbol, depth)
        right = self._numeric(node.right, symbol, depth)
        if isinstance(node.op, ast.Div | ast.Mod):
            return _Node(_Kind.NUMBER, lambda frame: _divide(ufunc, left(frame), right(frame)), node)
        return _Node(_Kind.NUMBER, lambda frame: ufunc(left(frame), right(frame)), node)

    def _call(self, node: ast.Call, depth: int) -> _Node:
        allowed = ", ".join(FUNCTIONS)
        if not isinstance(node.func, ast.Name):
            self._compile(node.func, depth + 1)  # names what is wrong with the callee, if it can
            raise self._problem(node, f"only the functions {allowed} can be called")
        name = node.func.id
        if name not in FUNCTIONS:
            raise self._problem(node, f"calling {name}() is not allowed; the allowed functions are {allowed}")
        if node.keywords:
            raise self._problem(node.keywords[0].value, f"keyword arguments are not allowed in {name}()")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self._problem(arg, _FORBIDDEN[ast.Starred])
        count = len(node.args)
        if name in ("min", "max") and count < 2:
            raise self._problem(node, f"{name}() needs at least two arguments, got {count}")
        if name not in ("min", "max") and count != 1:
            raise self._problem(node, f"{name}() needs exactly one argument, got {count}")
        if name == "is_missing":
            operand = self._compile(node.args[0], depth + 1)
            if operand.kind not in _MAYBE_MISSING:
                raise self._problem(operand.source, f"is_missing() needs a field or a number; {self._named(operand)}")
            missing, value = _missing_of(operand.kind), operand.run
            return _Node(_Kind.BOOL, lambda frame: missing(value(frame)), node)
        args = [self._numeric(arg, f"{name}()", depth) for arg in node.args]
        if name == "abs":
            return _Node(_Kind.NUMBER, lambda frame: np.abs(args[0](frame)), node)
        if name == "log":
            return _Node(_Kind.NUMBER, lambda frame: _log(args[0](frame)), node)
        pick = np.minimum if name == "min" else np.maximum
        return _Node(_Kind.NUMBER, lambda frame: reduce(pick, (arg(frame) for arg in args)), node)


# --- running ---------------------------------------------------------------------------------------------


def _truth(node: _Node) -> _Run:
    """A boolean field used as a condition counts as ``field == True``: missing is not true."""
    if node.kind is _Kind.FLAG:
        value = node.run
        return lambda frame: np.equal(value(frame), 1.0)
    return node.run


def _missing_of(kind: _Kind) -> Callable[[_Value], _Value]:
    if kind in _TEXTS:
        return _is_none
    if kind is _Kind.BOOL:
        return _never
    return np.isnan


def _never(value: _Value) -> _Value:
    return np.zeros(np.shape(value), dtype=np.bool_)


def _plural(kind: _Kind) -> str:
    return {_Kind.BOOL: "true/false values"}.get(kind, kind.value.removeprefix("a ") + "s")


def _is_none(value: _Value) -> _Value:
    if isinstance(value, np.ndarray):
        return np.equal(value, _NONE)
    return np.bool_(value is None)


def _compare_numbers(ufunc: np.ufunc, not_equal: bool, left: _Kind, right: _Kind) -> Callable[[_Value, _Value], _Value]:
    """NaN already fails every numpy comparison but ``!=``, which must be False on missing values too."""
    if not not_equal:
        return ufunc
    left_missing, right_missing = _missing_of(left), _missing_of(right)
    return lambda a, b: np.not_equal(a, b) & ~left_missing(a) & ~right_missing(b)


def _compare_texts(ufunc: np.ufunc, equal: bool) -> Callable[[_Value, _Value], _Value]:
    """Object arrays compare element by element in C; None is masked out before it can meet a string."""

    def test(a: _Value, b: _Value) -> _Value:
        a_missing, b_missing = _is_none(a), _is_none(b)
        if equal and not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return ufunc(a, b)  # None == "x" is already False
        present = ~(a_missing | b_missing)
        if not np.any(present):
            return np.zeros(np.shape(present), dtype=np.bool_)
        if not np.all(present):
            a = np.where(a_missing, "", a) if isinstance(a, np.ndarray) else a
            b = np.where(b_missing, "", b) if isinstance(b, np.ndarray) else b
        return np.asarray(ufunc(a, b), dtype=np.bool_) & present

    return test


def _member_test(kind: _Kind, items: tuple[_Item, ...], negate: bool) -> Callable[[_Value, _Value], _Value]:
    if kind in _TEXTS:
        strings = frozenset(str(item) for item in items)
        contains = np.frompyfunc(strings.__contains__, 1, 1)

        def found(a: _Value) -> _Value:
            if not isinstance(a, np.ndarray):
                return np.bool_(a in strings)
            if len(strings) <= _EQUALITY_CHAIN_LIMIT:
                return reduce(np.logical_or, (np.equal(a, item) for item in strings))
            return np.asarray(contains(a), dtype=np.bool_)

        missing: Callable[[_Value], _Value] = _is_none
    else:
        numbers = np.array([float(item) for item in items], dtype=np.float64)

        def found(a: _Value) -> _Value:
            return np.isin(a, numbers)

        missing = _missing_of(kind)

    if not negate:
        return lambda a, _: found(a)
    return lambda a, _: ~found(a) & ~missing(a)


def _divide(ufunc: np.ufunc, a: _Value, b: _Value) -> _Value:
    """Division and remainder by zero give a missing value instead of inf or an error."""
    return np.where(np.equal(b, 0.0), np.nan, ufunc(a, b))


def _log(x: _Value) -> _Value:
    """The natural log; a non-positive input has none, so it gives a missing value."""
    return np.log(np.where(np.greater(x, 0.0), x, np.nan))


def _row_count(fields: frozenset[str], columns: Mapping[str, npt.NDArray[Any]]) -> int:
    missing = sorted(fields - set(columns))
    if missing:
        raise InvalidInput([Problem(name, "the rule reads this column but it was not given") for name in missing])
    names = sorted(fields) or sorted(columns)[:1]
    if not names:
        raise InvalidInput([Problem("columns", "no column was given, so the number of rows is unknown")])
    return len(columns[names[0]])


def _load(name: str, kind: _Kind, column: npt.NDArray[Any], n: int) -> _Value:
    """One column in the form the compiled rule computes with (float64 for numbers and boolean fields)."""
    array = np.asarray(column)
    if array.shape != (n,):
        raise InvalidInput([Problem(name, f"the column has shape {array.shape}; expected ({n},) like the others")])
    if kind is _Kind.NUMBER:
        return array.astype(np.float64, copy=False)
    if kind is _Kind.FLAG:
        if array.dtype == np.bool_ or array.dtype.kind == "f":
            return array.astype(np.float64, copy=False)
        return np.where(np.equal(array, _NONE), np.nan, np.equal(array, True).astype(np.float64))
    return array if array.dtype == object else array.astype(object)
