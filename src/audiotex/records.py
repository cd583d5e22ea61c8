"""Record files: small TSV tables of dict rows and JSON objects that the steps write and read back.

Every metrics table, shard record, loss log and benchmark result is written by :func:`write_table` or
:func:`append_table` (cells formatted by :func:`format_cell`) and read by :func:`read_table`; every run
record and sidecar read as a whole is read by :func:`read_json`. :func:`write_table` and
:func:`write_json` are atomic (:func:`audiotex.files.atomic_output`); read errors are
:class:`~audiotex.errors.AudiotexError` naming the file and what it should have been.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .errors import AudiotexError
from .files import atomic_output


def format_cell(value: Any) -> str:
    """A TSV cell: empty for ``None``/NaN, 6 significant digits for floats, ``str`` otherwise."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def table_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The union of the rows' keys, in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def write_table(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], columns: Iterable[str] | None = None,
                comment: str | None = None) -> None:
    """Write ``rows`` as a tab-separated table with a header line, atomically.

    Args:
        path: the TSV to write.
        rows: one mapping per line; a key missing from a row is an empty cell, a key not in ``columns`` is
            left out.
        columns: the header, in order; by default :func:`table_columns` of ``rows``.
        comment: if given, written first as a ``# comment`` line (benchmark results describe their run).
    """
    columns = table_columns(rows) if columns is None else list(columns)
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        if comment is not None:
            fh.write(f"# {comment}\n")
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([format_cell(row.get(c)) for c in columns])


def append_table(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Append ``rows`` to a growing TSV log, writing the header first if the file is new or empty.

    Not atomic, on purpose: each call adds lines to a log that earlier runs wrote (a benchmark's results),
    and a long run appends after every measurement so that a kill keeps what was measured.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        if new:
            writer.writerow(columns)
        for row in rows:
            writer.writerow([format_cell(row.get(c)) for c in columns])


def read_table(path: str | os.PathLike, what: str) -> tuple[list[str], list[dict[str, str]]]:
    """Read a TSV written by :func:`write_table`: ``(header, rows)``, values as strings (``#`` lines skipped).

    Args:
        path: the TSV.
        what: what the file is, for error messages (``"a metrics table"``).

    Raises:
        AudiotexError: naming ``path`` when it is missing or unreadable.
    """
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            # write_table's comment lines come before the header
            reader = csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t")
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except FileNotFoundError:
        raise AudiotexError(f"{path}: no such file ({what})") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise AudiotexError(f"{path}: cannot read {what} ({err})") from None


def read_json(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """Read a JSON object from ``path``.

    Args:
        path: the JSON file.
        what: what the file is, for error messages (``"the inversion result"``).

    Raises:
        AudiotexError: naming ``path`` when it is missing, not JSON, or not a JSON object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AudiotexError(f"{path}: no such file ({what})") from None
    except (OSError, ValueError) as err:
        raise AudiotexError(f"{path}: not a readable JSON file ({what}: {err})") from None
    if not isinstance(data, dict):
        raise AudiotexError(f"{path}: expected a JSON object ({what})")
    return data


def write_json(path: str | os.PathLike, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented JSON with sorted keys, atomically; values JSON cannot hold become strings."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
