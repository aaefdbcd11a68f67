"""Account tables and invoice lines from CSV, JSON, YAML and XLSX files, with every bad cell reported.

Reading rules (what a spreadsheet export looks like, and what is refused):

* Text files must be UTF-8; a byte-order mark is dropped. CSV delimiter: whichever of ``;``,
  ``,`` and tab occurs most in the header line. Blank rows are skipped; every other row must
  have as many cells as the header.
* Spans: for CSV and XLSX the line is the row number (the header is row 1) and the column is
  the 1-based column number; for JSON and YAML they are the real line and column in the file.
* Numbers are Decimal. The decimal separator is decided once per file from the cells that
  settle it (``12,5`` or ``1.234,56`` mean decimal comma; ``12.5`` or ``1,234.56`` decimal
  point); plain integers are fine either way. If cells contradict each other, or the only
  separators are ambiguous (``1.234``: a thousand, or one and a bit?), that is an error unless
  ``decimal=`` is given. Thousands separators must group by three. NaN, infinities,
  spreadsheet error values (``#DIV/0!``), more than 28 significant digits or magnitudes of
  10^15 and above are errors.
* Dates: ISO ``2026-07-31`` (a time part is ignored), ``31.07.2026`` (day first) and
  ``31/07/2026``. Slash dates are day first (the European default) unless a row in the file
  can only be month first (``07/31/2026``); a file with both kinds is an error, and
  ``date_format="dmy"`` or ``"mdy"`` settles it explicitly.
* Account tables: one row per account, an ``account`` column (or the column mapped to it) and
  any other columns as facts. Cells that read as numbers become Decimal, ``true``/``false``
  become booleans, ISO dates become dates, other text stays text; an empty cell means the fact
  is not given. Duplicate account ids are errors.
* Invoice lines: ``account``, ``date``, ``amount`` and optionally ``quantity``, ``margin`` and
  ``invoice`` (an invoice id: purchases then count distinct invoices instead of lines). Lines
  outside the period and its previous period are not counted. An account with lines only in
  the previous period still appears, with revenue 0. ``revenue_growth`` is left out when the
  previous revenue is not positive, because growth from nothing is undefined.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Union

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.lang.source import YNode, read_text, read_yaml

__all__ = [
    "AccountRow",
    "InvoiceLine",
    "Period",
    "aggregate_invoices",
    "parse_column_mapping",
    "parse_period",
    "read_account_table",
    "read_invoice_lines",
]

Value = Union[Decimal, int, bool, dt.date, str]
INVOICE_ROLES = ("account", "date", "amount", "quantity", "margin", "invoice")
_REQUIRED_ROLES = ("account", "date", "amount")
_MAX_ABS = Decimal("1e15")
_MAX_DIGITS = 28
_NOT_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


# Columns of an account table that describe the account but are not facts the rules read.
NOT_FACTS = ("name", "previous_key_account")


@dataclass(frozen=True)
class AccountRow:
    """One account and its facts, with where it came from."""

    account: str
    facts: Mapping[str, Value]
    span: Span
    # fact → column number, shared by every row of a CSV or XLSX table, so a bad value can be
    # pointed at its cell without keeping a position per cell
    columns: Mapping[str, int] | None = None
    # facts kamrules computed (checked as observations, never against a range) and note codes
    observed: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()

    def cell_span(self, fact: str) -> Span:
        """Where this row's value of ``fact`` stands (its cell when known, else the row)."""
        if self.columns and fact in self.columns:
            return Span(self.span.file, self.span.line, self.columns[fact], cell=True)
        return self.span


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice or transaction line."""

    account: str
    date: dt.date
    amount: Decimal
    quantity: Decimal | None
    margin: Decimal | None
    invoice: str | None
    span: Span


@dataclass(frozen=True)
class Period:
    """A closed range of days with the label it was written as."""

    start: dt.date
    end: dt.date
    label: str

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end

    def previous(self) -> Period:
        """The period of the same kind just before: previous month, quarter, year, or as many days."""
        if re.fullmatch(r"\d{4}", self.label):
            return parse_period(str(self.start.year - 1))
        if m := re.fullmatch(r"(\d{4})Q([1-4])", self.label):
            y, q = int(m[1]), int(m[2])
            return parse_period(f"{y - 1}Q4" if q == 1 else f"{y}Q{q - 1}")
        if re.fullmatch(r"\d{4}-\d{2}", self.label):
            last = self.start - dt.timedelta(days=1)
            return parse_period(f"{last.year}-{last.month:02d}")
        days = (self.end - self.start).days + 1
        end = self.start - dt.timedelta(days=1)
        start = end - dt.timedelta(days=days - 1)
        return Period(start, end, f"{start.isoformat()}..{end.isoformat()}")


def parse_period(text: str, source: str = "--period") -> Period:
    """A month ``2026-07``, quarter ``2026Q3``, year ``2026`` or range ``2026-01-01..2026-03-31``."""
    t = text.strip()
    try:
        if m := re.fullmatch(r"(\d{4})", t):
            y = int(m[1])
            return Period(dt.date(y, 1, 1), dt.date(y, 12, 31), t)
        if m := re.fullmatch(r"(\d{4})-?Q([1-4])", t, re.IGNORECASE):
            y, q = int(m[1]), int(m[2])
            end_month = 3 * q
            return Period(
                dt.date(y, end_month - 2, 1), dt.date(y, end_month, calendar.monthrange(y, end_month)[1]), f"{y}Q{q}"
            )
        if m := re.fullmatch(r"(\d{4})-(\d{2})", t):
            y, mo = int(m[1]), int(m[2])
            return Period(dt.date(y, mo, 1), dt.date(y, mo, calendar.monthrange(y, mo)[1]), t)
        if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", t):
            start, end = dt.date.fromisoformat(m[1]), dt.date.fromisoformat(m[2])
            if start <= end:
                return Period(start, end, t)
    except ValueError:
        pass
    raise InvalidInput(
        [
            Problem(
                Span(source, 1, 1, max(len(text), 1)),
                "not a period",
                expected="a month 2026-07, a quarter 2026Q3, a year 2026 or a range 2026-01-01..2026-03-31",
                found=f"'{text}'",
                code="period",
            )
        ]
    )


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
            problems.append(
                Problem(
                    span,
                    f"'{key}' is mapped twice",
                    expected="each name once",
                    found=f"'{out[key]}' and '{column}'",
                    code="columns",
                )
            )
        else:
            out[key] = column
    if problems:
        raise InvalidInput(problems)
    return out


# ---------------------------------------------------------------------------------------------
# Reading files into records: each record is its span and {column: (raw value, cell span)}.

Cell = tuple[Any, Span]


@dataclass
class _Record:
    span: Span
    cells: dict[str, Cell] = field(default_factory=dict)


@dataclass
class _Table:
    file: str
    columns: list[str]
    records: list[_Record]
    header_spans: dict[str, Span]
    grid: bool = False  # CSV and XLSX: a value's cell is (its row, its column's number)


def _read_records(path: str | Path) -> _Table:
    name = str(path)
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(name)
    if suffix == ".json":
        return _read_json(name)
    if suffix in (".yaml", ".yml"):
        return _read_yaml_table(name)
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(name)
    raise InvalidInput(
        [
            Problem(
                Span(name),
                "unknown table format",
                expected=".csv, .json, .yaml, .yml or .xlsx",
                found=f"'{suffix or 'no extension'}'",
                code="table-format",
            )
        ]
    )


def _empty(name: str, what: str) -> InvalidInput:
    return InvalidInput([Problem(Span(name, 1, 1), "file is empty", expected=what, found="no content", code="empty")])


def _read_csv(name: str) -> _Table:
    text = read_text(name)
    if not text.strip():
        raise _empty(name, "a header row and data rows")
    first = text.splitlines()[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    problems: list[Problem] = []
    header_spans = {h: Span(name, 1, i, cell=True) for i, h in enumerate(header, start=1)}
    records: list[_Record] = []
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
        rec = _Record(Span(name, rownum, 1, cell=True))
        for colnum, (h, c) in enumerate(zip(header, row), start=1):
            rec.cells[h] = (c, Span(name, rownum, colnum, max(len(c), 1), cell=True))
        records.append(rec)
    problems += _header_problems(name, header, records)
    if problems:
        raise InvalidInput(problems)
    return _Table(name, [h for h in header if h], records, header_spans, grid=True)


def _header_problems(name: str, header: list[str], records: list[_Record]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, h in enumerate(header, start=1):
        if not h:
            # Spreadsheets often export trailing empty columns; only a nameless column with data is wrong.
            if any(str(r.cells.get(h, ("", None))[0] or "").strip() for r in records):
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
                Problem(
                    Span(name, 1, i, len(h), cell=True),
                    f"duplicate column '{h}'",
                    expected="each column name once",
                    found=f"'{h}' again (first in column {seen[h]})",
                    code="header",
                )
            )
        else:
            seen[h] = i
    return problems


def _read_xlsx(name: str) -> _Table:
    import openpyxl  # only needed for workbooks
    from openpyxl.utils.exceptions import InvalidFileException

    p = Path(name)
    if not p.is_file():
        raise InvalidInput([Problem(Span(name), "file not found")])
    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError):
        raise InvalidInput(
            [
                Problem(
                    Span(name),
                    "cannot read workbook",
                    expected="an .xlsx file saved by a spreadsheet program",
                    found="a file that is not an .xlsx workbook",
                    code="xlsx",
                )
            ]
        ) from None
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    while rows and all(c is None or (isinstance(c, str) and not c.strip()) for c in rows[-1]):
        rows.pop()
    if not rows:
        raise _empty(name, "a header row and data rows")
    header = ["" if h is None else str(h).strip() for h in rows[0]]
    records: list[_Record] = []
    for rownum, row in enumerate(rows[1:], start=2):
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in row):
            continue
        rec = _Record(Span(name, rownum, 1, cell=True))
        for colnum, h in enumerate(header, start=1):
            c = row[colnum - 1] if colnum <= len(row) else None
            rec.cells[h] = ("" if c is None else c, Span(name, rownum, colnum, cell=True))
        records.append(rec)
    problems = _header_problems(name, header, records)
    if problems:
        raise InvalidInput(problems)
    return _Table(
        name,
        [h for h in header if h],
        records,
        {h: Span(name, 1, i, cell=True) for i, h in enumerate(header, 1)},
        grid=True,
    )


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _read_json(name: str) -> _Table:
    text = read_text(name)
    if not text.strip():
        raise _empty(name, "a JSON list of objects")

    def no_constant(c: str) -> Any:
        raise ValueError(c)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise KeyError(k)
            out[k] = v
        return out

    decoder = json.JSONDecoder(
        parse_float=Decimal, parse_int=Decimal, parse_constant=no_constant, object_pairs_hook=pairs
    )
    ws = re.compile(r"\s*")
    pos = ws.match(text, 0).end()
    if not text.startswith("[", pos):
        line, col = _line_col(text, pos)
        raise InvalidInput(
            [
                Problem(
                    Span(name, line, col),
                    "not a table",
                    expected="a JSON list of objects",
                    found=f"'{text[pos]}'",
                    code="json",
                )
            ]
        )
    pos = ws.match(text, pos + 1).end()
    records: list[_Record] = []
    problems: list[Problem] = []
    columns: list[str] = []
    while not text.startswith("]", pos):
        line, col = _line_col(text, pos)
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise InvalidInput(
                [Problem(Span(name, e.lineno, e.colno), f"JSON syntax error: {e.msg}", code="json")]
            ) from None
        except ValueError as e:
            raise InvalidInput(
                [
                    Problem(
                        Span(name, line, col), "not a finite number", expected="a number", found=str(e), code="number"
                    )
                ]
            ) from None
        except KeyError as e:
            raise InvalidInput(
                [
                    Problem(
                        Span(name, line, col),
                        f"duplicate key {e}",
                        expected="each key once in an object",
                        code="duplicate-key",
                    )
                ]
            ) from None
        span = Span(name, line, col)
        if not isinstance(obj, dict):
            problems.append(Problem(span, "not a table row", expected="an object", found=_describe(obj), code="json"))
        else:
            rec = _Record(span)
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
            records.append(rec)
        pos = ws.match(text, end).end()
        if text.startswith(",", pos):
            pos = ws.match(text, pos + 1).end()
        elif not text.startswith("]", pos):
            line, col = _line_col(text, pos)
            raise InvalidInput(
                [
                    Problem(
                        Span(name, line, col),
                        "JSON syntax error",
                        expected="',' or ']'",
                        found=f"'{text[pos : pos + 1] or 'end of file'}'",
                        code="json",
                    )
                ]
            )
    if text[pos + 1 :].strip():
        line, col = _line_col(text, pos + 1 + (len(text[pos + 1 :]) - len(text[pos + 1 :].lstrip())))
        problems.append(Problem(Span(name, line, col), "text after the end of the table", code="json"))
    if problems:
        raise InvalidInput(problems)
    return _Table(name, columns, records, {c: Span(name, 1, 1) for c in columns})


def _read_yaml_table(name: str) -> _Table:
    root = read_yaml(name)
    if root.kind != "seq":
        raise InvalidInput(
            [Problem(root.span, "not a table", expected="a YAML list of mappings", found=root.describe(), code="yaml")]
        )
    records: list[_Record] = []
    problems: list[Problem] = []
    columns: list[str] = []
    for item in root.value:
        if item.kind != "map":
            problems.append(
                Problem(item.span, "not a table row", expected="a mapping", found=item.describe(), code="yaml")
            )
            continue
        rec = _Record(item.span)
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
    return _Table(name, columns, records, {c: Span(name, 1, 1) for c in columns})


def _yaml_value(node: YNode) -> Any:
    v = node.value
    if v is None:
        return ""
    if isinstance(v, bool) or isinstance(v, (dt.date, str)):
        return v
    # YAML ints and floats: take the digits as written, not the binary float.
    return Decimal(node.raw.replace("_", "")) if node.raw.lower().lstrip("+-") not in {".inf", ".nan"} else node.raw


def _describe(v: Any) -> str:
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return f"text '{v}'"
    return str(v)


# ---------------------------------------------------------------------------------------------
# Cells → values.

_DOT = re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?([eE][+-]?\d+)?")
_COMMA = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d{1,3}( \d{3})+|\d+)(,\d+)?")
_PLAIN_NUMBER = re.compile(r"-?\d{1,15}(\.\d{1,13})?")
_LOOKS_NUMERIC = re.compile(r"[+-]?[\d.,' ]*\d[\d.,' ]*([eE][+-]?\d+)?")


def _evidence(text: str) -> str | None:
    """'.' or ',' if this cell settles the decimal separator, 'ambiguous' if it could be either, else None."""
    t = text.strip().lstrip("+-")
    if "." in t and "," in t:
        return "," if t.rfind(",") > t.rfind(".") else "."
    for sep, other in ((".", ","), (",", ".")):
        if sep in t:
            if t.count(sep) > 1:
                return other  # several of the same can only be thousands separators
            frac = t.rsplit(sep, 1)[1]
            if len(frac) == 3 and t.split(sep)[0] not in ("", "0"):
                return "ambiguous"
            return sep
    return None


def _decide_decimal(name: str, texts: list[tuple[str, Span]], given: str | None) -> tuple[str, list[Problem]]:
    if given is not None:
        return given, []
    seen: dict[str, Span] = {}
    for t, span in texts:
        if "." not in t and "," not in t:
            continue  # no separator, no evidence either way
        if _LOOKS_NUMERIC.fullmatch(t.strip()) and not _DMY_DOT.fullmatch(t.strip()):
            ev = _evidence(t)
            if ev is not None and ev not in seen:
                seen[ev] = span
    if "." in seen and "," in seen:
        a, b = seen["."], seen[","]
        return ".", [
            Problem(
                b if (b.line, b.col) > (a.line, a.col) else a,
                "numbers use both '.' and ',' as decimal separator",
                expected="one decimal separator per file",
                found=f"decimal point at {a.line}:{a.col} and decimal comma at {b.line}:{b.col}",
                code="decimal",
                help="make the column formats agree, or give the decimal separator explicitly",
            )
        ]
    if "." in seen:
        return ".", []
    if "," in seen:
        return ",", []
    if "ambiguous" in seen:
        span = seen["ambiguous"]
        return ".", [
            Problem(
                span,
                "cannot tell the decimal separator",
                expected="a number that settles it, like 12,5 or 12.5",
                found="only numbers like 1.234 or 1,234, which read as thousands or as decimals",
                code="decimal",
                help="give the decimal separator explicitly ('.' or ',')",
            )
        ]
    return ".", []


def _number(raw: Any, decimal_sep: str) -> Decimal | str:
    """The cell as a Decimal, or the reason it is not a valid number."""
    if isinstance(raw, bool):
        return f"boolean {str(raw).lower()}"
    if isinstance(raw, Decimal):
        d = raw
    elif isinstance(raw, int):
        d = Decimal(raw)
    elif isinstance(raw, float):
        d = Decimal(repr(raw)) if raw == raw and abs(raw) != float("inf") else Decimal("NaN")
    elif isinstance(raw, str):
        t = raw.strip().replace("\u00a0", " ").replace("\u202f", " ")
        if t.lower() in _NOT_FINITE:
            return f"'{raw}'"
        if t.startswith("#"):
            return f"spreadsheet error '{raw}'"
        if decimal_sep == "." and _DOT.fullmatch(t):
            d = Decimal(t.replace(",", ""))
        elif decimal_sep == "," and _COMMA.fullmatch(t):
            d = Decimal(t.replace(".", "").replace(" ", "").replace(",", "."))
        else:
            return f"'{raw}'" if raw else "an empty cell"
    else:
        return _describe(raw)
    if not d.is_finite():
        return f"'{raw}'"
    if abs(d) >= _MAX_ABS:
        return f"{raw} (too large: 10^15 or more)"
    if len(d.as_tuple().digits) > _MAX_DIGITS:
        return f"{raw} (more than {_MAX_DIGITS} significant digits)"
    return d


def _number_expected(decimal_sep: str) -> str:
    return "a number like 1234,56 or 1.234,56" if decimal_sep == "," else "a number like 1234.56 or 1,234.56"


_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?")
_DMY_DOT = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_SLASH = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _decide_date_order(texts: list[tuple[str, Span]], given: str | None) -> tuple[str, list[Problem]]:
    if given is not None:
        return given, []
    dmy = mdy = None
    for t, span in texts:
        if m := _SLASH.fullmatch(t.strip()):
            a, b = int(m[1]), int(m[2])
            if a > 12 and dmy is None:
                dmy = span
            if b > 12 and mdy is None:
                mdy = span
    if dmy and mdy:
        return "dmy", [
            Problem(
                mdy,
                "dates are written both day first and month first",
                expected="one date order per file",
                found=f"day first at {dmy.line}:{dmy.col}, month first at {mdy.line}:{mdy.col}",
                code="date",
                help="fix the odd rows, or give the date format explicitly (dmy or mdy)",
            )
        ]
    return ("mdy" if mdy else "dmy"), []


def _date(raw: Any, order: str) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if not isinstance(raw, str):
        return None
    t = raw.strip()
    try:
        if m := _ISO.fullmatch(t):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DMY_DOT.fullmatch(t):
            return dt.date(int(m[3]), int(m[2]), int(m[1]))
        if m := _SLASH.fullmatch(t):
            a, b = int(m[1]), int(m[2])
            return dt.date(int(m[3]), b, a) if order == "dmy" else dt.date(int(m[3]), a, b)
    except ValueError:
        return None
    return None


def _missing_column(table: _Table, role: str, column: str) -> Problem:
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


def _all_strings(table: _Table, columns: list[str]) -> list[tuple[str, Span]]:
    out = []
    for rec in table.records:
        for c in columns:
            if c in rec.cells and isinstance(rec.cells[c][0], str):
                out.append(rec.cells[c])
    return out


def _no_rows(table: _Table, what: str) -> Problem:
    return Problem(Span(table.file, 1, 1), "no data rows", expected=what, found="only a header", code="empty")


# ---------------------------------------------------------------------------------------------
# Public readers.


def read_account_table(
    path: str | Path, columns: Mapping[str, str] | None = None, decimal: str | None = None
) -> list[AccountRow]:
    """One AccountRow per row of an account table; ``columns`` maps fact names to file columns."""
    table = _read_records(path)
    mapping = dict(columns or {})
    rename = {v: k for k, v in mapping.items()}
    account_col = mapping.get("account", "account")
    problems: list[Problem] = []
    if account_col not in table.columns:
        if not table.records:
            raise _empty(table.file, "a header row and one row per account")
        raise InvalidInput([_missing_column(table, "account", account_col)])
    if not table.records:
        raise InvalidInput([_no_rows(table, "one row per account")])
    fact_cols = [c for c in table.columns if c != account_col]
    for fact, col in mapping.items():
        if fact != "account" and col not in table.columns:
            problems.append(_missing_column(table, fact, col))
    dec, p = _decide_decimal(table.file, _all_strings(table, fact_cols), decimal)
    if p:  # every number in the file would be read wrongly; cell-by-cell errors would only add noise
        raise InvalidInput(problems + p)
    rows: list[AccountRow] = []
    first_seen: dict[str, Span] = {}
    header_cols = {rename.get(c, c): sp.col for c, sp in table.header_spans.items() if c in fact_cols and sp.col}
    for rec in table.records:
        raw, span = rec.cells.get(account_col, ("", rec.span))
        account = _account_id(raw)
        if not account:
            problems.append(
                Problem(span, "missing account id", expected="an account id", found="an empty cell", code="account")
            )
            continue
        if account in first_seen:
            problems.append(
                Problem(
                    span,
                    f"duplicate account '{account}'",
                    expected="each account once",
                    found=f"'{account}' again (first at {_where(first_seen[account])})",
                    code="duplicate-account",
                )
            )
            continue
        first_seen[account] = span
        facts: dict[str, Value] = {}
        for col in fact_cols:
            if col not in rec.cells:
                continue
            value = _fact_value(rec.cells[col], dec, problems)
            if value is not None:
                facts[rename.get(col, col)] = value
        rows.append(AccountRow(account, facts, rec.span, header_cols if table.grid else None))
    if problems:
        raise InvalidInput(problems)
    return rows


def _where(span: Span) -> str:
    return f"line {span.line}" if span.line else span.file


def _account_id(raw: Any) -> str:
    if isinstance(raw, Decimal):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))  # a spreadsheet stores customer number 1042 as 1042.0
    return str(raw).strip() if raw is not None else ""


def _fact_value(cell: Cell, dec: str, problems: list[Problem]) -> Value | None:
    raw, span = cell
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, (Decimal, int, float)):
        n = _number(raw, dec)
        if isinstance(n, str):
            problems.append(
                Problem(span, "not a valid number", expected="a finite number below 10^15", found=n, code="number")
            )
            return None
        return n
    t = str(raw).strip()
    if not t:
        return None
    # Most cells of a large table are plain numbers: read them at once (at most 15 integer and 13
    # decimal digits, so below 10^15 and within 28 significant digits, as the checks below require).
    if (dec == "." or "." not in t) and _PLAIN_NUMBER.fullmatch(t):
        return Decimal(t)
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if _DMY_DOT.fullmatch(t) or _ISO.fullmatch(t):
        d = _date(t, "dmy")
        if d is None:
            problems.append(
                Problem(span, "not a valid date", expected="a real calendar day", found=f"'{t}'", code="date")
            )
        return d
    if _LOOKS_NUMERIC.fullmatch(t) or t.lower() in _NOT_FINITE or t.startswith("#"):
        n = _number(t, dec)
        if isinstance(n, str):
            problems.append(Problem(span, "not a valid number", expected=_number_expected(dec), found=n, code="number"))
            return None
        return n
    return t


def read_invoice_lines(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    decimal: str | None = None,
    date_format: str | None = None,
) -> list[InvoiceLine]:
    """The lines of an invoice or transaction file; ``columns`` maps roles (account, date, ...) to file columns."""
    mapping = dict(columns or {})
    unknown = [k for k in mapping if k not in INVOICE_ROLES]
    if unknown:
        raise InvalidInput(
            [
                Problem(
                    Span("--columns"),
                    f"unknown column role '{k}'",
                    expected=", ".join(INVOICE_ROLES),
                    found=f"'{k}'",
                    code="columns",
                )
                for k in unknown
            ]
        )
    table = _read_records(path)
    cols = {role: mapping.get(role, role) for role in INVOICE_ROLES}
    problems = [_missing_column(table, r, cols[r]) for r in _REQUIRED_ROLES if cols[r] not in table.columns]
    problems += [
        _missing_column(table, r, cols[r])
        for r in INVOICE_ROLES
        if r not in _REQUIRED_ROLES and r in mapping and cols[r] not in table.columns
    ]
    if problems:
        raise InvalidInput(problems)
    if not table.records:
        raise InvalidInput([_no_rows(table, "one row per invoice line")])
    present = {r for r in INVOICE_ROLES if cols[r] in table.columns}
    numeric = [cols[r] for r in ("amount", "quantity", "margin") if r in present]
    dec, problems = _decide_decimal(table.file, _all_strings(table, numeric), decimal)
    order, p = _decide_date_order(_all_strings(table, [cols["date"]]), date_format)
    problems += p
    if problems:  # the file-wide reading is unsettled; cell-by-cell errors would only add noise
        raise InvalidInput(problems)
    lines: list[InvoiceLine] = []
    for rec in table.records:
        ok = True

        def cell(role: str) -> Cell:
            return rec.cells.get(cols[role], ("", rec.span))

        raw, span = cell("account")
        account = _account_id(raw)
        if not account:
            problems.append(
                Problem(span, "missing account id", expected="an account id", found="an empty cell", code="account")
            )
            ok = False
        raw, span = cell("date")
        day = _date(raw, order)
        if day is None:
            problems.append(
                Problem(
                    span,
                    "not a valid date",
                    expected="a date like 2026-07-31, 31/07/2026 or 31.07.2026",
                    found=f"'{raw}'" if raw != "" else "an empty cell",
                    code="date",
                )
            )
            ok = False
        nums: dict[str, Decimal | None] = {"quantity": None, "margin": None}
        for role in ("amount", "quantity", "margin"):
            if role not in present:
                continue
            raw, span = cell(role)
            n = _number(raw, dec)
            if isinstance(n, str):
                problems.append(
                    Problem(span, f"not a valid {role}", expected=_number_expected(dec), found=n, code="number")
                )
                ok = False
            else:
                nums[role] = n
        invoice = None
        if "invoice" in present:
            raw, span = cell("invoice")
            invoice = _account_id(raw) or None
            if invoice is None:
                problems.append(
                    Problem(span, "missing invoice id", expected="an invoice id", found="an empty cell", code="invoice")
                )
                ok = False
        if ok and day is not None:
            amount = nums["amount"]
            assert amount is not None
            lines.append(InvoiceLine(account, day, amount, nums["quantity"], nums["margin"], invoice, rec.span))
    if problems:
        raise InvalidInput(problems)
    return lines


def aggregate_invoices(
    lines: list[InvoiceLine], period: Period, previous: Period | None = None, source: str = "<invoices>"
) -> list[AccountRow]:
    """Per-account revenue, volume, purchases, margin and revenue_growth for a period, sorted by account."""
    prev = previous or period.previous()
    has_qty = any(li.quantity is not None for li in lines)
    has_margin = any(li.margin is not None for li in lines)
    cur: dict[str, list[InvoiceLine]] = {}
    before: dict[str, Decimal] = {}
    for li in lines:
        if li.date in period:
            cur.setdefault(li.account, []).append(li)
        elif li.date in prev:
            before[li.account] = before.get(li.account, Decimal(0)) + li.amount
    rows: list[AccountRow] = []
    for account in sorted(set(cur) | set(before)):
        mine = cur.get(account, [])
        revenue = sum((li.amount for li in mine), Decimal(0))
        facts: dict[str, Value] = {"revenue": revenue}
        if has_qty:
            facts["volume"] = sum((li.quantity or Decimal(0) for li in mine), Decimal(0))
        invoices = {li.invoice for li in mine if li.invoice is not None}
        facts["purchases"] = len(invoices) if invoices else len(mine)
        if has_margin:
            facts["margin"] = sum((li.margin or Decimal(0) for li in mine), Decimal(0))
        old = before.get(account, Decimal(0))
        if old > 0:
            facts["revenue_growth"] = (revenue - old) / old
        span = mine[0].span if mine else Span(source)
        rows.append(AccountRow(account, facts, Span(span.file)))
    return rows
