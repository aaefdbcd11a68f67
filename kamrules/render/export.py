"""The review's accounts for spreadsheets: CSV and XLSX, every text cell neutralised against formula injection.

A customer name comes from a CRM: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is read by Excel or LibreOffice as a formula (OWASP, "CSV Injection"). Such text
cells get a leading apostrophe, which spreadsheets show as text; numbers stay numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

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
]


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


def review_xlsx(r: ReviewReport, path: str | Path) -> None:
    """An XLSX file: a Summary sheet (the review's summary) and an Accounts sheet (one row per account)."""
    from openpyxl import Workbook  # only when a workbook is asked for

    wb = Workbook(write_only=True)
    summary = wb.create_sheet("Summary")
    summary.append(["Portfolio review", neutral(str(r.meta.get("file", "")))])
    summary.append(["Rules", neutral(r.rules), neutral(r.review.rules_version)])
    for label, text in summary_items(r.review, r.meta):
        summary.append([label, neutral(text)])
    sheet = wb.create_sheet("Accounts")
    names, rows = accounts_table(r)
    titles = Columns(r.facts)
    sheet.append([titles.title(c) for c in names])
    for row in rows:
        sheet.append([row[c] for c in names])
    wb.save(str(path))
