"""The JSON text of many objects of one shape at once: the very text a ``json.JSONEncoder`` writes for each, at a
fraction of its cost. Intake writes a million cases' fields and groups as JSON and hashes their canonical text;
an encoder call per case cost more than the database took to store the rows (``bench/intake.py``). Here each key's
values are encoded a column at a time (``float.__repr__``, ``int.__repr__`` and ``json``'s own string escaping,
which is what the encoder calls for them), and each object is put together by one ``%`` of a template."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from json import JSONEncoder
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any


def _column(values: Sequence[Any], encoder: JSONEncoder) -> list[str]:
    """One key's values as JSON text: plain floats (finite), whole numbers and text by the functions the encoder
    itself uses for them, anything else by the encoder."""
    kinds = set(map(type, values))
    if kinds == {float} and all(map(math.isfinite, values)):
        return list(map(float.__repr__, values))
    if kinds == {int}:
        return list(map(int.__repr__, values))
    if kinds == {str}:
        return list(map(encode_basestring_ascii if encoder.ensure_ascii else encode_basestring, values))
    return [encoder.encode(v) for v in values]


def objects(names: Sequence[str], columns: Sequence[Sequence[Any]], encoder: JSONEncoder) -> list[str]:
    """The text ``encoder`` writes for each object ``{names[0]: columns[0][i], ...}`` (at least one name; the
    columns of equal length; the names in the order the objects hold them)."""
    escape = encode_basestring_ascii if encoder.ensure_ascii else encode_basestring
    order = sorted(range(len(names)), key=names.__getitem__) if encoder.sort_keys else range(len(names))
    template = (
        "{"
        + encoder.item_separator.join(escape(names[i]).replace("%", "%%") + encoder.key_separator + "%s" for i in order)
        + "}"
    )
    texts = [_column(columns[i], encoder) for i in order]
    return [template % values for values in zip(*texts, strict=True)]


def rows(documents: Sequence[Mapping[str, Any]], encoder: JSONEncoder) -> list[str]:
    """The text ``encoder`` writes for each of ``documents``: column-wise (``objects``) when all hold the same keys
    in the same order, as a batch of one flow's fields does, else one at a time."""
    if not documents:
        return []
    names = tuple(documents[0])
    if not names or not all(isinstance(k, str) for k in names) or not all(tuple(d) == names for d in documents):
        return [encoder.encode(d) for d in documents]
    return objects(names, [[d[k] for d in documents] for k in names], encoder)


def arrays(lists: Sequence[Sequence[Any] | None], encoder: JSONEncoder) -> list[str | None]:
    """The text ``encoder`` writes for each of ``lists`` (None stays None): column-wise when all have one length,
    as a batch's probabilities do, else one at a time."""
    present = [x for x in lists if x is not None]
    width = len(present[0]) if present else 0
    if not width or not all(len(x) == width for x in present):
        return [None if x is None else encoder.encode(x) for x in lists]
    template = "[" + encoder.item_separator.join(["%s"] * width) + "]"
    columns = [_column([x[i] for x in present], encoder) for i in range(width)]
    texts = iter([template % v for v in zip(*columns, strict=True)])
    return [None if x is None else next(texts) for x in lists]
