"""The review's accounts for spreadsheets: CSV and XLSX, every text cell neutralised against formula injection.

A customer name comes from a CRM: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is read by Excel or LibreOffice as a formula (OWASP, "CSV Injection"). Such text
cells get a leading apostrophe, which spreadsheets show as text; numbers stay numbers.

A CRM's text may also hold control characters (U+0000-U+001F but tab, line feed and carriage return),
which an XLSX file cannot (its XML does not allow them). The workbook is written with them removed
from the cells that held them, and each such cell is returned, by sheet, row and column, to be warned of.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, NamedTuple

from kamrules.render import columns
from kamrules.render import decision as report
from kamrules.render.columns import FORMULA_STARTS
from kamrules.render.overview import summary_items
from kamrules.render.review import ReviewReport
from kamrules.render.rows import Columns, account_row, ordered

__all__ = [
    "FORMULA_STARTS",
    "accounts_table",
    "neutral",
    "review_csv",
    "review_csv_file",
    "review_parquet",
    "review_xlsx",
    "stripped_text",
]

SHOWN_STRIPPED = 20  # cells named one by one in the warning; the rest are counted


class Stripped(NamedTuple):
    """A cell of the workbook written without the control characters its text held."""

    sheet: str
    row: int  # the sheet's row number, 1 for the first
    column: str  # the column's letter
    title: str  # the column's title (the Summary sheet's: the row's label)
    account: str | None  # the account of an Accounts row
    removed: str  # the characters removed, each once, in order


def neutral(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, as text; every other value unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def accounts_table(r: ReviewReport) -> tuple[list[str], list[dict[str, Any]]]:
    """The account rows (key accounts only with --key-only, in --sort order) and their columns."""
    if r.review.table is not None:  # filtered and ordered in polars
        rows = columns.view_frame(r.review, r.view).to_dicts()
    else:
        rows = [account_row(a, r.review.metrics) for a in r.review.accounts]
        if r.view.key_only:
            rows = [x for x in rows if x["key_account"]]
        rows = ordered(rows, r.view.sort, None)
    names = list(rows[0]) if rows else ["account"]
    return names, [{c: neutral(v) for c, v in x.items()} for x in rows]


def review_csv(r: ReviewReport) -> str:
    """One row per account as CSV, under the column ids (for scripts; the XLSX has the labels)."""
    if r.review.table is not None:  # written from the columns: no million dicts
        return columns.csv_text(columns.view_frame(r.review, r.view))
    names, rows = accounts_table(r)
    return report.csv_text(rows, names, lineterminator="\n")


def review_csv_file(r: ReviewReport, path: str | Path) -> None:
    """`review_csv` into the file ``path``; a review on columns is written a slice of rows at a time."""
    with open(path, "wb") as out:
        if r.review.table is not None:
            columns.write_csv(columns.view_frame(r.review, r.view), out)
        else:
            out.write(review_csv(r).encode("utf-8"))


def review_parquet(r: ReviewReport, out: str | Path | IO[bytes]) -> None:
    """One typed row per account as Parquet, the CSV's columns and rows (text without the apostrophe)."""
    columns.view_frame(r.review, r.view).write_parquet(out)


def review_xlsx(r: ReviewReport, path: str | Path) -> list[Stripped]:
    """An XLSX file (a Summary sheet, an Accounts sheet); the cells written without characters XLSX cannot hold."""
    # openpyxl only when a workbook is asked for; its pattern of what a worksheet refuses
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.utils import get_column_letter

    stripped: list[Stripped] = []

    def cells(sheet: str, n: int, values: list[Any], titles: list[str], account: str | None = None) -> list[Any]:
        out = []
        for i, v in enumerate(values):
            if isinstance(v, str) and ILLEGAL_CHARACTERS_RE.search(v):
                removed = "".join(dict.fromkeys(ILLEGAL_CHARACTERS_RE.findall(v)))
                stripped.append(Stripped(sheet, n, get_column_letter(i + 1), titles[i], account, removed))
                v = neutral(ILLEGAL_CHARACTERS_RE.sub("", v))  # what is left may start a formula
            out.append(v)
        return out

    wb = Workbook(write_only=True)
    summary = wb.create_sheet("Summary")
    lines = [
        ["Portfolio review", neutral(str(r.meta.get("file", "")))],
        ["Rules", neutral(r.rules), neutral(r.review.rules_version)],
        *([label, neutral(text)] for label, text in summary_items(r.review, r.meta)),
    ]
    for n, line in enumerate(lines, 1):
        summary.append(cells("Summary", n, line, [str(line[0])] * len(line)))
    sheet = wb.create_sheet("Accounts")
    names, rows = accounts_table(r)
    titles = [Columns(r.facts).title(c) for c in names]
    sheet.append(cells("Accounts", 1, titles, titles))
    for n, row in enumerate(rows, 2):
        sheet.append(cells("Accounts", n, [row[c] for c in names], titles, str(row.get("account", ""))))
    wb.save(str(path))
    return stripped


def stripped_text(path: str, stripped: list[Stripped]) -> str:
    """The warning that cells of the workbook ``path`` were written without their control characters."""
    lines = [
        f"warning: {path}: {len(stripped):,} cell(s) held control characters, which XLSX cannot hold; "
        "they are written without them (the CSV, JSON and Parquet outputs keep them):"
    ]
    for s in stripped[:SHOWN_STRIPPED]:
        where = f"sheet {s.sheet}, row {s.row}" + (f" (account {s.account})" if s.account else "")
        chars = ", ".join(f"U+{ord(c):04X}" for c in s.removed)
        lines.append(f"  {where}, column {s.column} ({s.title}): removed {chars}")
    if len(stripped) > SHOWN_STRIPPED:
        lines.append(f"  and {len(stripped) - SHOWN_STRIPPED:,} more")
    return "\n".join(lines)
