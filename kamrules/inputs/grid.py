"""A CSV file → its header and a frame of string cells with each row's number (the start of columnar reading).

The same reading rules as ``textfiles.read_csv`` (UTF-8, BOM dropped, the delimiter that occurs
most in the header line, blank rows skipped, every other row as long as the header) and the same
messages; rows are split by polars in one pass when the file has no quotes, by Python's csv
module otherwise (a quoted cell may hold the delimiter or a line break).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import polars as pl

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.inputs.records import check_header, empty_file
from kamrules.lang import read_text

__all__ = ["Grid", "read_csv_grid"]

ROW = "__row"  # the column of row numbers (the header is row 1)


@dataclass(frozen=True)
class Grid:
    """A table's header cells (stripped, in file order) and its cells: String column ``c{i}`` per header cell."""

    file: str
    header: list[str]
    cells: pl.DataFrame

    @property
    def columns(self) -> list[str]:
        """The named columns, in file order."""
        return [h for h in self.header if h]

    def column(self, name: str) -> str:
        """The frame column of a header name (its first column when the name is given twice)."""
        return f"c{self.header.index(name)}"


def _row_length(name: str, row: int, n: int, found: int, delimiter: str) -> Problem:
    return Problem(
        Span(name, row, 1, cell=True),
        "wrong number of cells in row",
        expected=f"{n} cells like the header",
        found=f"{found}",
        code="row-length",
        help=f"the file is read with '{'tab' if delimiter == chr(9) else delimiter}' between cells; "
        "quote cells that contain it",
    )


def _split_plain(name: str, text: str, delimiter: str) -> tuple[list[str], pl.DataFrame, list[Problem]]:
    """Rows of a file without quotes: a row is a line, a cell what lies between delimiters."""
    lines = pl.Series("line", text.split("\n"))
    if "\r" in text:
        lines = lines.str.strip_suffix("\r")
    header = [h.strip() for h in str(lines[0]).split(delimiter)]
    n = len(header)
    df = pl.DataFrame({"line": lines[1:]}).with_row_index(ROW, offset=2)
    df = df.with_columns(
        blank=pl.col("line").str.replace_all(delimiter, "", literal=True).str.strip_chars() == "",
        n=pl.col("line").str.count_matches(delimiter, literal=True) + 1,
    ).filter(~pl.col("blank"))
    bad = df.filter(pl.col("n") != n)
    problems = [_row_length(name, r, n, k, delimiter) for r, k in zip(bad[ROW], bad["n"], strict=True)]
    good = df.filter(pl.col("n") == n)
    cells = good.select(
        pl.col(ROW),
        pl.col("line").str.split_exact(delimiter, n - 1).struct.rename_fields([f"c{i}" for i in range(n)]),
    ).unnest("line")
    return header, cells, problems


def _split_quoted(name: str, text: str, delimiter: str) -> tuple[list[str], pl.DataFrame, list[Problem]]:
    """Rows read by Python's csv module: quotes may hold delimiters and line breaks."""
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    n = len(header)
    problems: list[Problem] = []
    kept: list[list[str]] = []
    numbers: list[int] = []
    for rownum, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != n:
            problems.append(_row_length(name, rownum, n, len(row), delimiter))
            continue
        kept.append(row)
        numbers.append(rownum)
    data: dict[str, pl.Series] = {ROW: pl.Series(ROW, numbers, dtype=pl.UInt32)}
    columns = list(zip(*kept, strict=True)) if kept else [() for _ in range(n)]
    for i, col in enumerate(columns):
        data[f"c{i}"] = pl.Series(f"c{i}", list(col), dtype=pl.String)
    return header, pl.DataFrame(data), problems


def _header_problems(name: str, header: list[str], cells: pl.DataFrame) -> list[Problem]:
    """Duplicate column names, and nameless columns that hold data."""
    return check_header(
        name, header, lambda i, h: bool((cells[f"c{i - 1}"].str.strip_chars().fill_null("") != "").any())
    )


def read_csv_grid(name: str) -> Grid:
    """A CSV (or TSV) file's cells as strings; blank rows skipped, bad row lengths and headers reported."""
    text = read_text(name)
    if not text.strip():
        raise empty_file(name, "a header row and data rows")
    first = text.splitlines()[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    # Without quotes a line is a row; a lone carriage return or a NUL is a line break or an oddity to csv.
    plain = '"' not in text and "\x00" not in text and "\r" not in text.replace("\r\n", "")
    split = _split_plain if plain else _split_quoted
    header, cells, problems = split(name, text, delimiter)
    problems += _header_problems(name, header, cells)
    if problems:
        raise InvalidInput(problems)
    return Grid(name, header, cells)
