"""Record files: TSV tables and JSON objects written and read back by the steps."""
from __future__ import annotations

import math

import pytest

from audiotex.errors import AudiotexError
from audiotex.records import append_table, format_cell, read_json, read_table, table_columns, write_json, write_table


@pytest.mark.parametrize("value,cell", [(None, ""), (math.nan, ""), (0.1234567891, "0.123457"), (3, "3"),
                                        (1e-12, "1e-12"), ("a b", "a b"), (True, "True")])
def test_format_cell(value, cell):
    assert format_cell(value) == cell


def test_table_round_trip_keeps_columns_order_and_empty_cells(tmp_path):
    rows = [{"id": "a", "loss": 0.5}, {"id": "b", "extra": None, "note": 'said "hi"\tthere'}]
    assert table_columns(rows) == ["id", "loss", "extra", "note"]
    write_table(tmp_path / "t.tsv", rows, comment=None)
    header, read = read_table(tmp_path / "t.tsv", "a test table")
    assert header == ["id", "loss", "extra", "note"]
    assert read == [{"id": "a", "loss": "0.5", "extra": "", "note": ""},
                    {"id": "b", "loss": "", "extra": "", "note": 'said "hi"\tthere'}]


def test_table_with_given_columns_and_comment(tmp_path):
    path = tmp_path / "t.tsv"
    write_table(path, [{"b": 2.0, "a": 1, "ignored": 9}], ["a", "b"], comment="run on x")
    assert path.read_text() == "# run on x\na\tb\n1\t2\n"
    assert read_table(path, "a table") == (["a", "b"], [{"a": "1", "b": "2"}])  # the comment is not the header


def test_failed_write_leaves_the_old_table(tmp_path):
    path = tmp_path / "t.tsv"
    write_table(path, [{"a": 1}])

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_table(path, [{"a": Broken()}])
    assert path.read_text() == "a\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.tsv"]


def test_append_table_writes_the_header_once(tmp_path):
    path = tmp_path / "log" / "bench.tsv"
    append_table(path, [{"rows": 10, "seconds": 1.25}], ["rows", "seconds"])
    append_table(path, [{"rows": 100, "seconds": None}, {"rows": 1000}], ["rows", "seconds"])
    assert path.read_text() == "rows\tseconds\n10\t1.25\n100\t\n1000\t\n"


def test_read_table_names_missing_file(tmp_path):
    with pytest.raises(AudiotexError, match=r"nope\.tsv: no such file \(a loss log\)"):
        read_table(tmp_path / "nope.tsv", "a loss log")


def test_json_round_trip(tmp_path):
    write_json(tmp_path / "r.json", {"b": 1, "a": tmp_path})
    assert read_json(tmp_path / "r.json", "a record") == {"a": str(tmp_path), "b": 1}


@pytest.mark.parametrize("text,fragment", [(None, "no such file"), ("{oops", "not a readable JSON file"),
                                           ("[1, 2]", "expected a JSON object")])
def test_read_json_names_the_file_and_what_it_is(tmp_path, text, fragment):
    path = tmp_path / "r.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(AudiotexError) as err:
        read_json(path, "the inversion result")
    assert str(path) in str(err.value) and fragment in str(err.value) and "the inversion result" in str(err.value)
