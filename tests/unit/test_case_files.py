"""Reading cases from CSV, JSON Lines and Parquet files, each row with the location a user can find."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers.builders import make_flow
from signoff.errors import InvalidInput, Problem
from signoff.inputs.files import Row, count_rows, read_chunks
from signoff.inputs.validation import validate_case


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_file_is_read_as_text_with_its_line_numbers(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.csv", "external_id,score,group\nA1,0.1,a\n007,0.9,b\n")
    assert list(read_chunks(path)) == [
        (
            [
                Row("cases.csv:line 2", "A1", {"score": "0.1", "group": "a"}),
                Row("cases.csv:line 3", "007", {"score": "0.9", "group": "b"}),
            ],
            True,
        )
    ]


def test_csv_line_numbers_continue_across_chunks(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.csv", "score,group\n0.1,a\n0.2,a\n0.3,b\n")
    chunks = [[row.location for row in rows] for rows, _text in read_chunks(path, chunk_size=2)]
    assert chunks == [["cases.csv:line 2", "cases.csv:line 3"], ["cases.csv:line 4"]]


def test_a_csv_file_without_an_external_id_column_has_none(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.csv", "score,group\n0.1,a\n")
    [([row], _text)] = list(read_chunks(path))
    assert row == Row("cases.csv:line 2", None, {"score": "0.1", "group": "a"})


def test_an_empty_csv_external_id_is_none(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.csv", "external_id,score,group\n,0.1,a\n")
    [([row], _text)] = list(read_chunks(path))
    assert row.external_id is None


def test_empty_csv_cells_are_missing_values(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.csv", "score,amount,group\n0.1,,a\n")
    [([row], text)] = list(read_chunks(path))
    assert row.fields == {"score": "0.1", "amount": "", "group": "a"}
    case, problems = validate_case(make_flow(), row.external_id, row.fields, row.location, text=text)
    assert problems == []
    assert case is not None
    assert case.fields == {"score": 0.1, "amount": None, "group": "a"}


def test_csv_line_numbers_stay_true_after_a_blank_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.csv", "score,group\n0.1,a\n\n0.3,b\n")
    [(rows, _text)] = list(read_chunks(path))
    assert [row.location for row in rows] == ["cases.csv:line 2", "cases.csv:line 4"]


def test_jsonl_reads_flat_and_nested_records_with_their_line_numbers(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "cases.jsonl",
        '{"external_id": "x1", "score": 0.1, "group": "a"}\n'
        "\n"
        '{"external_id": "x2", "fields": {"score": 0.9, "group": "b"}}\n'
        '{"score": 0.5, "group": "a"}\n',
    )
    assert list(read_chunks(path)) == [
        (
            [
                Row("cases.jsonl:line 1", "x1", {"score": 0.1, "group": "a"}),
                Row("cases.jsonl:line 3", "x2", {"score": 0.9, "group": "b"}),
                Row("cases.jsonl:line 4", None, {"score": 0.5, "group": "a"}),
            ],
            False,
        )
    ]


def test_ndjson_is_read_like_jsonl_in_chunks(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.ndjson", '{"score": 0.1}\n{"score": 0.2}\n{"score": 0.3}\n')
    chunks = [[row.fields["score"] for row in rows] for rows, _text in read_chunks(path, chunk_size=2)]
    assert chunks == [[0.1, 0.2], [0.3]]


def test_a_bad_json_line_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.jsonl", '{"score": 0.1}\n\n{score: 0.2}\n')
    with pytest.raises(InvalidInput) as caught:
        list(read_chunks(path))
    assert caught.value.problems == [
        Problem("cases.jsonl:line 3", "not valid JSON: Expecting property name enclosed in double quotes")
    ]


def test_a_json_line_that_is_not_an_object_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.jsonl", "[0.1, 0.2]\n")
    with pytest.raises(InvalidInput) as caught:
        list(read_chunks(path))
    assert caught.value.problems == [Problem("cases.jsonl:line 1", "each line must be a JSON object of field values")]


def test_a_parquet_file_keeps_its_types_and_numbers_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "cases.parquet"
    pq.write_table(pa.table({"external_id": [7, 8], "score": [0.1, 0.9], "group": ["a", "b"]}), path)
    assert list(read_chunks(path)) == [
        (
            [
                Row("cases.parquet:row 1", "7", {"score": 0.1, "group": "a"}),
                Row("cases.parquet:row 2", "8", {"score": 0.9, "group": "b"}),
            ],
            False,
        )
    ]


def test_an_unsupported_file_type_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "cases.xlsx", "")
    with pytest.raises(InvalidInput) as caught:
        list(read_chunks(path))
    assert caught.value.problems == [
        Problem(str(path), "unsupported file type; use one of .csv, .parquet, .jsonl, .ndjson")
    ]


def test_count_rows_of_a_csv_leaves_out_the_header(tmp_path: Path) -> None:
    assert count_rows(_write(tmp_path / "cases.csv", "score,group\n0.1,a\n0.2,b\n0.3,a\n")) == 3


def test_count_rows_of_jsonl_leaves_out_blank_lines(tmp_path: Path) -> None:
    assert count_rows(_write(tmp_path / "cases.jsonl", '{"score": 0.1}\n\n{"score": 0.2}\n')) == 2


def test_count_rows_of_parquet_reads_its_metadata(tmp_path: Path) -> None:
    path = tmp_path / "cases.parquet"
    pq.write_table(pa.table({"score": [0.1, 0.2, 0.3, 0.4]}), path)
    assert count_rows(path) == 4
