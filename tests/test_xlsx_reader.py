"""Workbooks are read by python-calamine with openpyxl's values; what calamine would read wrongly goes to openpyxl."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamrules.errors import InvalidInput
from kamrules.inputs import xlsx

CELLS = st.one_of(
    st.none(),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12),
    st.booleans(),
    st.dates(dt.date(1901, 1, 1), dt.date(2099, 12, 31)),
    st.datetimes(dt.datetime(1901, 1, 1), dt.datetime(2099, 12, 31)).map(lambda d: d.replace(microsecond=0)),
)


def _book(path: Path, rows: list[list[Any]], at: tuple[int, int] = (1, 1)) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if v is not None:
                ws.cell(at[0] + i, at[1] + j, v)
    wb.save(path)
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(CELLS, min_size=1, max_size=5), min_size=1, max_size=6),
    at=st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
def test_calamine_reads_what_openpyxl_reads(tmp_path: Path, rows: list[list[Any]], at: tuple[int, int]) -> None:
    """Numbers, text, booleans, days and times, empty cells and a sheet that starts below A1: the same values."""
    path = _book(tmp_path / "t.xlsx", rows, at)
    assert xlsx._plain(path)
    assert _trimmed(xlsx._sheet_rows(str(path))) == _trimmed(xlsx._openpyxl_rows(str(path)))


def _trimmed(rows: list[list[Any]]) -> list[list[Any]]:
    """Without the empty rows and columns at the end (openpyxl counts a cell holding '' in the sheet's size)."""
    rows = [list(r) for r in rows]
    while rows and all(c is None for c in rows[-1]):
        rows.pop()
    width = max((max((j + 1 for j, c in enumerate(r) if c is not None), default=0) for r in rows), default=0)
    return [r[:width] for r in rows]


def test_a_plain_workbook_is_not_read_by_openpyxl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast reader is the one that reads an ordinary workbook."""
    path = _book(tmp_path / "t.xlsx", [["account", "revenue"], ["C1", 5]])

    def refuse(name: str) -> list[list[Any]]:
        raise AssertionError("read by openpyxl")

    monkeypatch.setattr(xlsx, "_openpyxl_rows", refuse)
    assert xlsx._sheet_rows(str(path)) == [["account", "revenue"], ["C1", 5]]


def test_an_error_cell_is_read_as_its_text_not_as_an_empty_cell(tmp_path: Path) -> None:
    """#DIV/0! in a revenue cell is the text '#DIV/0!' (then a bad value at its row and column), never a gap."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["account", "revenue"])
    ws.append(["C1", "#DIV/0!"])
    ws["B2"].data_type = "e"
    path = tmp_path / "errors.xlsx"
    wb.save(path)
    assert not xlsx._plain(path)
    assert xlsx._sheet_rows(str(path)) == [["account", "revenue"], ["C1", "#DIV/0!"]]


def test_a_sheet_that_declares_entities_is_refused(tmp_path: Path) -> None:
    """An entity calamine would read as nothing is refused, as openpyxl with defusedxml refuses it."""
    plain = _book(tmp_path / "t.xlsx", [["account", "revenue"], ["C1", 5]])
    with zipfile.ZipFile(plain) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode("utf-8")
    sheet = sheet.split("?>", 1)[1] if sheet.startswith("<?xml") else sheet
    laughs = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "5">]>'
    parts["xl/worksheets/sheet1.xml"] = (laughs + sheet.replace("<v>5</v>", "<v>&a;</v>")).encode("utf-8")
    hostile = tmp_path / "hostile.xlsx"
    with zipfile.ZipFile(hostile, "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)
    assert not xlsx._plain(hostile)
    with pytest.raises(InvalidInput) as err:
        xlsx._sheet_rows(str(hostile))
    assert "entities" in str(err.value.problems[0].found)
