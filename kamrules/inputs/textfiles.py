"""CSV, JSON and YAML files → records, each cell with its span.

Text files must be UTF-8; a byte-order mark is dropped. CSV: the delimiter is whichever of
``;``, ``,`` and tab occurs most in the header line, and spans are (row, column number).
JSON and YAML: spans are the real line and column in the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from typing import Any

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.inputs.cells import describe
from kamrules.inputs.records import Record, Table, empty_file, header_problems
from kamrules.lang import YNode, read_text, read_yaml

__all__ = ["read_csv", "read_json", "read_yaml_table"]

_SPACE = re.compile(r"\s*")


def read_csv(name: str) -> Table:
    """A CSV (or TSV) file's records; blank rows are skipped, every other row has as many cells as the header."""
    text = read_text(name)
    if not text.strip():
        raise empty_file(name, "a header row and data rows")
    first = text.splitlines()[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    problems: list[Problem] = []
    header_spans = {h: Span(name, 1, i, cell=True) for i, h in enumerate(header, start=1)}
    records: list[Record] = []
    for rownum, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            problems.append(
                Problem(
                    Span(name, rownum, 1, cell=True),
                    "wrong number of cells in row",
                    expected=f"{len(header)} cells like the header",
                    found=f"{len(row)}",
                    code="row-length",
                    help=f"the file is read with '{'tab' if delimiter == chr(9) else delimiter}' between cells; "
                    "quote cells that contain it",
                )
            )
            continue
        rec = Record(Span(name, rownum, 1, cell=True))
        for colnum, (h, c) in enumerate(zip(header, row, strict=True), start=1):
            rec.cells[h] = (c, Span(name, rownum, colnum, max(len(c), 1), cell=True))
        records.append(rec)
    problems += header_problems(name, header, records)
    if problems:
        raise InvalidInput(problems)
    return Table(name, [h for h in header if h], records, header_spans, grid=True)


# ---------------------------------------------------------------------------------------------
# JSON: a list of flat objects, read one object at a time so each row keeps its position.


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _json_error(name: str, text: str, pos: int, message: str, expected: str, found: str) -> InvalidInput:
    """The error for what stands at ``pos`` where the table's structure wants something else."""
    line, col = _line_col(text, pos)
    return InvalidInput.at(Span(name, line, col), message, expected=expected, found=found, code="json")


def _skip_space(text: str, pos: int) -> int:
    m = _SPACE.match(text, pos)
    assert m is not None  # \s* matches the empty string anywhere
    return m.end()


def _json_decoder() -> json.JSONDecoder:
    """A decoder that reads numbers as Decimal and refuses NaN, infinities and duplicate keys."""

    def no_constant(c: str) -> Any:
        raise ValueError(c)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise KeyError(k)
            out[k] = v
        return out

    return json.JSONDecoder(parse_float=Decimal, parse_int=Decimal, parse_constant=no_constant, object_pairs_hook=pairs)


def _decode_row(decoder: json.JSONDecoder, name: str, text: str, pos: int) -> tuple[Any, int, Span]:
    """The JSON value at ``pos``, where it ends and its span."""
    line, col = _line_col(text, pos)
    try:
        obj, end = decoder.raw_decode(text, pos)
    except json.JSONDecodeError as e:
        raise InvalidInput(
            [Problem(Span(name, e.lineno, e.colno), f"JSON syntax error: {e.msg}", code="json")]
        ) from None
    except ValueError as e:
        raise InvalidInput(
            [Problem(Span(name, line, col), "not a finite number", expected="a number", found=str(e), code="number")]
        ) from None
    except RecursionError:
        raise InvalidInput.at(
            Span(name, line, col), "JSON nested too deeply", expected="a flat object per row", code="json"
        ) from None
    except KeyError as e:
        raise InvalidInput.at(
            Span(name, line, col),
            f"duplicate key {e}",
            expected="each key once in an object",
            code="duplicate-key",
        ) from None
    return obj, end, Span(name, line, col)


def _json_record(obj: Any, span: Span, columns: list[str], problems: list[Problem]) -> Record | None:
    """One decoded row as a record (new keys are added to ``columns``), or None if it is not an object."""
    if not isinstance(obj, dict):
        problems.append(Problem(span, "not a table row", expected="an object", found=describe(obj), code="json"))
        return None
    rec = Record(span)
    for k, v in obj.items():
        if isinstance(v, (dict, list)):
            problems.append(
                Problem(
                    span,
                    f"'{k}' is not a single value",
                    expected="a number, text, boolean or null",
                    found="an object" if isinstance(v, dict) else "a list",
                    code="json",
                )
            )
            continue
        rec.cells[k] = ("" if v is None else v, span)
        if k not in columns:
            columns.append(k)
    return rec


def _after_row(name: str, text: str, end: int) -> int:
    """The position of the next row or of the closing ']' after a row that ends at ``end``."""
    pos = _skip_space(text, end)
    if text.startswith(",", pos):
        return _skip_space(text, pos + 1)
    if not text.startswith("]", pos):
        raise _json_error(
            name, text, pos, "JSON syntax error", "',' or ']'", f"'{text[pos : pos + 1] or 'end of file'}'"
        )
    return pos


def read_json(name: str) -> Table:
    """A JSON list of flat objects as records; nested values, NaN and duplicate keys are errors."""
    text = read_text(name)
    if not text.strip():
        raise empty_file(name, "a JSON list of objects")
    pos = _skip_space(text, 0)
    if not text.startswith("[", pos):
        raise _json_error(name, text, pos, "not a table", "a JSON list of objects", f"'{text[pos]}'")
    pos = _skip_space(text, pos + 1)
    decoder = _json_decoder()
    records: list[Record] = []
    problems: list[Problem] = []
    columns: list[str] = []
    while not text.startswith("]", pos):
        obj, end, span = _decode_row(decoder, name, text, pos)
        rec = _json_record(obj, span, columns, problems)
        if rec is not None:
            records.append(rec)
        pos = _after_row(name, text, end)
    if text[pos + 1 :].strip():
        line, col = _line_col(text, pos + 1 + (len(text[pos + 1 :]) - len(text[pos + 1 :].lstrip())))
        problems.append(Problem(Span(name, line, col), "text after the end of the table", code="json"))
    if problems:
        raise InvalidInput(problems)
    return Table(name, columns, records, {c: Span(name, 1, 1) for c in columns})


# ---------------------------------------------------------------------------------------------
# YAML: a list of flat mappings.


def read_yaml_table(name: str) -> Table:
    """A YAML list of flat mappings as records; nested values are errors."""
    root = read_yaml(name)
    if root.kind != "seq":
        raise InvalidInput(
            [Problem(root.span, "not a table", expected="a YAML list of mappings", found=root.describe(), code="yaml")]
        )
    records: list[Record] = []
    problems: list[Problem] = []
    columns: list[str] = []
    for item in root.value:
        if item.kind != "map":
            problems.append(
                Problem(item.span, "not a table row", expected="a mapping", found=item.describe(), code="yaml")
            )
            continue
        rec = Record(item.span)
        for k, v in item.items():
            if v.kind != "scalar":
                problems.append(
                    Problem(
                        v.span,
                        f"'{k}' is not a single value",
                        expected="a number, text, boolean or date",
                        found=v.describe(),
                        code="yaml",
                    )
                )
                continue
            rec.cells[k] = (_yaml_value(v), v.span)
            if k not in columns:
                columns.append(k)
        records.append(rec)
    if problems:
        raise InvalidInput(problems)
    return Table(name, columns, records, {c: Span(name, 1, 1) for c in columns})


def _yaml_value(node: YNode) -> Any:
    v = node.value
    if v is None:
        return ""
    if isinstance(v, (bool, dt.date, str)):
        return v
    # YAML ints and floats: take the digits as written, not the binary float.
    return Decimal(node.raw.replace("_", "")) if node.raw.lower().lstrip("+-") not in {".inf", ".nan"} else node.raw
