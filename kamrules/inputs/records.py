"""What every file reader gives (records of cells with their spans) and the problems readers share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kamrules.errors import InvalidInput, Problem, Span, duplicate
from kamrules.inputs.cells import Cell

__all__ = [
    "Record",
    "Table",
    "all_strings",
    "empty_file",
    "header_problems",
    "missing_column",
    "no_rows",
    "parse_column_mapping",
]


@dataclass(frozen=True)
class Record:
    """One row of a file: its span and {column: (raw value, cell span)}, filled in by the reader."""

    span: Span
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """The records of one file, with its column names and where each header stands."""

    file: str
    columns: list[str]
    records: list[Record]
    header_spans: dict[str, Span]
    grid: bool = False  # CSV and XLSX: a value's cell is (its row, its column's number)


def parse_column_mapping(text: str, source: str = "--columns") -> dict[str, str]:
    """``account=Cliente,date=Data`` → ``{"account": "Cliente", "date": "Data"}``."""
    out: dict[str, str] = {}
    problems: list[Problem] = []
    col = 1
    for part in text.split(","):
        span = Span(source, 1, col, max(len(part), 1))
        col += len(part) + 1
        if not part.strip():
            continue
        key, eq, column = part.partition("=")
        key, column = key.strip(), column.strip()
        if not eq or not key or not column:
            problems.append(
                Problem(span, "not a column mapping", expected="name=Column", found=f"'{part}'", code="columns")
            )
        elif key in out:
            problems.append(duplicate(span, "mapping", key, f"to '{out[key]}'", "columns"))
        elif column in out.values():
            # One column read as two things (amount and margin) would report one number twice.
            other = next(k for k, c in out.items() if c == column)
            problems.append(duplicate(span, "column", column, f"for '{other}'", "columns", " per role"))
        else:
            out[key] = column
    if problems:
        raise InvalidInput(problems)
    return out


def empty_file(name: str, what: str) -> InvalidInput:
    """The error for a file with no content."""
    return InvalidInput.at(Span(name, 1, 1), "file is empty", expected=what, found="no content", code="empty")


def header_problems(name: str, header: list[str], records: list[Record]) -> list[Problem]:
    """Duplicate column names, and nameless columns that hold data."""
    return check_header(
        name, header, lambda i, h: any(str(r.cells.get(h, ("", None))[0] or "").strip() for r in records)
    )


def check_header(name: str, header: list[str], has_data: Callable[[int, str], bool]) -> list[Problem]:
    """Duplicate column names, and nameless columns for which ``has_data(position, name)`` is true."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, h in enumerate(header, start=1):
        if not h:
            # Spreadsheets often export trailing empty columns; only a nameless column with data is wrong.
            if has_data(i, h):
                problems.append(
                    Problem(
                        Span(name, 1, i, cell=True),
                        "column has data but no name",
                        expected="a column name",
                        found="an empty header cell",
                        code="header",
                    )
                )
            continue
        if h in seen:
            problems.append(
                duplicate(Span(name, 1, i, len(h), cell=True), "column", h, f"in column {seen[h]}", "header")
            )
        else:
            seen[h] = i
    return problems


def missing_column(table: Table, role: str, column: str) -> Problem:
    """The problem for a column the reader needs and the file lacks, with a hint."""
    near = [c for c in table.columns if c.lower() == column.lower()]
    listed = ", ".join(f"'{c}'" for c in table.columns) or "none"
    hint = (
        f"did you mean '{near[0]}'? (column names are case-sensitive)"
        if near
        else (f"name the column '{column}' or map it, e.g. --columns {role}=<column>")
    )
    return Problem(
        Span(table.file, 1, 1),
        f"missing column '{column}'" + (f" for {role}" if role != column else ""),
        expected=f"a column named '{column}'",
        found=f"columns {listed}",
        help=hint,
        code="missing-column",
    )


def no_rows(table: Table, what: str) -> Problem:
    """The problem for a file with a header and no data rows."""
    return Problem(Span(table.file, 1, 1), "no data rows", expected=what, found="only a header", code="empty")


def all_strings(table: Table, columns: list[str]) -> list[tuple[str, Span]]:
    """Every text cell of these columns, with its span (what the file-wide decisions look at)."""
    out = []
    for rec in table.records:
        for c in columns:
            if c in rec.cells and isinstance(rec.cells[c][0], str):
                out.append(rec.cells[c])
    return out
