"""XLSX workbooks → records: the first sheet, the header in row 1, spans are (row, column number)."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

from kamrules.errors import InvalidInput, Span
from kamrules.inputs.records import Record, Table, empty_file, header_problems

__all__ = ["read_xlsx"]


def _blank(row: list[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in row)


# A sheet cell holding an error value (#DIV/0!, #N/A): calamine reads it as an empty cell.
_ERROR_CELL = re.compile(rb"""<c\b[^>]*\st\s*=\s*["']e["']""")


def _sheet_rows(name: str) -> list[list[Any]]:
    """The cell values of the workbook's first sheet, row by row, as openpyxl reads them.

    python-calamine (Rust) reads a sheet ten times as fast as openpyxl; but it reads an error value
    (#DIV/0!) and an entity it does not expand as empty cells, so a workbook that has either, or that
    calamine cannot read, goes to openpyxl, which names what is wrong or reads the error as its text.
    """
    p = Path(name)
    if not p.is_file():
        raise InvalidInput.at(Span(name), "file not found")
    if _plain(p):
        from python_calamine import CalamineError, CalamineWorkbook, XmlError, ZipError

        try:
            rows = CalamineWorkbook.from_path(name).get_sheet_by_index(0).to_python(skip_empty_area=False)
        except (CalamineError, XmlError, ZipError, OSError, ValueError):
            pass  # openpyxl says what is wrong with it
        else:
            return [[_as_openpyxl(c) for c in r] for r in rows]
    return _openpyxl_rows(name)


def _plain(p: Path) -> bool:
    """True when no sheet or string table of the workbook declares entities or holds an error cell."""
    try:
        with zipfile.ZipFile(p) as z:
            for n in z.namelist():
                if n.startswith("xl/") and n.endswith(".xml") and ("worksheets/" in n or n == "xl/sharedStrings.xml"):
                    data = z.read(n)
                    if b"<!DOCTYPE" in data or b"<!ENTITY" in data or _ERROR_CELL.search(data):
                        return False
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return False
    return True


def _as_openpyxl(c: Any) -> Any:
    """A calamine value as openpyxl gives it: None for empty, int for a whole number written without a point."""
    if c == "" and isinstance(c, str):
        return None
    if type(c) is float and c.is_integer() and abs(c) < 1e16:  # Excel writes these without a point or exponent
        return int(c)
    if type(c) is dt.date:  # a day at midnight: openpyxl gives a datetime
        return dt.datetime(c.year, c.month, c.day)
    return c


def _openpyxl_rows(name: str) -> list[list[Any]]:
    """The first sheet's values through openpyxl (the reader of workbooks calamine cannot read as they are)."""
    import openpyxl  # only needed for workbooks

    # openpyxl parses sheets with defusedxml when it is installed (a dependency): entities are refused.
    from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
    from openpyxl.utils.exceptions import InvalidFileException

    # The file is opened here so that it is closed however openpyxl fails (it leaves its own open then).
    with open(name, "rb") as f:
        try:
            wb = openpyxl.load_workbook(f, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError):
            raise _unreadable(name, "a file that is not an .xlsx workbook") from None
        except (ParseError, ValueError):  # openpyxl wraps defusedxml's refusal of entities in a ValueError
            raise _unreadable(name, _BAD_XML) from None
        try:
            # Read-only sheets are parsed while iterating: damaged or hostile XML surfaces here.
            return [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
        except (ParseError, DefusedXmlException, zipfile.BadZipFile, KeyError, OSError):
            raise _unreadable(name, _BAD_XML) from None
        finally:
            wb.close()


_BAD_XML = "damaged sheet XML, or XML that declares entities (refused: they can expand without bound)"


def _unreadable(name: str, found: str) -> InvalidInput:
    return InvalidInput.at(
        Span(name),
        "cannot read workbook",
        expected="an .xlsx file saved by a spreadsheet program",
        found=found,
        code="xlsx",
    )


def read_xlsx(name: str) -> Table:
    """The first sheet's records; blank rows are skipped, empty cells read as ''."""
    rows = _sheet_rows(name)
    while rows and _blank(rows[-1]):
        rows.pop()
    if not rows:
        raise empty_file(name, "a header row and data rows")
    header = ["" if h is None else str(h).strip() for h in rows[0]]
    records: list[Record] = []
    for rownum, row in enumerate(rows[1:], start=2):
        if _blank(row):
            continue
        rec = Record(Span(name, rownum, 1, cell=True))
        for colnum, h in enumerate(header, start=1):
            c = row[colnum - 1] if colnum <= len(row) else None
            rec.cells[h] = ("" if c is None else c, Span(name, rownum, colnum, cell=True))
        records.append(rec)
    problems = header_problems(name, header, records)
    if problems:
        raise InvalidInput(problems)
    return Table(
        name,
        [h for h in header if h],
        records,
        {h: Span(name, 1, i, cell=True) for i, h in enumerate(header, 1)},
        grid=True,
    )
