"""Read cases from CSV, Parquet or JSON Lines in chunks, so a file of any size streams in bounded memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signoff.errors import InvalidInput, Problem

FORMATS = (".csv", ".parquet", ".jsonl", ".ndjson")
EXTERNAL_ID = "external_id"


@dataclass(frozen=True)
class Row:
    """One case as read from a file: where it was, its external id, its field values."""

    location: str
    external_id: Any
    fields: dict[str, Any]


def _row(location: str, record: dict[str, Any]) -> Row:
    external = record.pop(EXTERNAL_ID, None)
    if external is not None and not isinstance(external, str):
        external = str(external)
    return Row(location, external or None, record)


def count_rows(path: Path) -> int:
    """How many cases the file holds (for the progress bar)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return max(lines - 1, 0) if path.suffix.lower() == ".csv" else lines


def read_chunks(path: Path, chunk_size: int = 5000) -> Iterator[tuple[list[Row], bool]]:
    """Yield chunks of rows and whether their values are text (CSV) that the schema must parse."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput([Problem(str(path), f"unsupported file type; use one of {', '.join(FORMATS)}")])
    if suffix == ".csv":
        yield from _utf8(path, _csv(path, chunk_size))
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        number = 1
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
            records = batch.to_pylist()
            yield [_row(f"{path.name}:row {number + i}", r) for i, r in enumerate(records)], False
            number += len(records)
    else:
        yield from _utf8(path, _jsonl(path, chunk_size))


def _utf8(path: Path, chunks: Iterator[tuple[list[Row], bool]]) -> Iterator[tuple[list[Row], bool]]:
    """Text files must be UTF-8 (the text policy, ``signoff.text``): say so, instead of failing on a decode error."""
    try:
        yield from chunks
    except UnicodeDecodeError as error:
        bad = error.object[error.start : error.start + 1].hex()
        raise InvalidInput([Problem(path.name, f"is not valid UTF-8 ({error.reason}: 0x{bad})")]) from None


def _csv(path: Path, chunk_size: int) -> Iterator[tuple[list[Row], bool]]:
    """Every value stays text: the flow schema, not a guess, decides types. Blank lines are skipped, and each row
    is named by the line it starts on."""
    chunk: list[Row] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        start = reader.line_num + 1
        for values in reader:
            if not any(v.strip() for v in values):
                start = reader.line_num + 1
                continue
            where = f"{path.name}:line {start}"
            if len(values) != len(header):
                raise InvalidInput([Problem(where, f"has {len(values)} values, the header has {len(header)}")])
            chunk.append(_row(where, dict(zip(header, values, strict=True))))
            start = reader.line_num + 1
            if len(chunk) >= chunk_size:
                yield chunk, True
                chunk = []
    if chunk:
        yield chunk, True


def _jsonl(path: Path, chunk_size: int) -> Iterator[tuple[list[Row], bool]]:
    chunk: list[Row] = []
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            where = f"{path.name}:line {number}"
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                raise InvalidInput([Problem(where, f"not valid JSON: {error.msg}")]) from None
            if not isinstance(record, dict):
                raise InvalidInput([Problem(where, "each line must be a JSON object of field values")])
            fields = record.get("fields") if set(record) <= {"fields", EXTERNAL_ID} and "fields" in record else None
            chunk.append(
                Row(where, record.get(EXTERNAL_ID), fields) if isinstance(fields, dict) else _row(where, record)
            )
            if len(chunk) >= chunk_size:
                yield chunk, False
                chunk = []
    if chunk:
        yield chunk, False
