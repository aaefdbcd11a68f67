"""The review's accounts for spreadsheets: CSV and XLSX, every text cell neutralised against formula injection.

A customer name comes from a CRM: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is read by Excel or LibreOffice as a formula (OWASP, "CSV Injection"). Such text
cells get a leading apostrophe, which spreadsheets show as text; numbers stay numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kamrules.render import decision as report
from kamrules.render.overview import summary_items
from kamrules.render.review import ReviewReport
from kamrules.render.rows import Columns, account_row, ordered

__all__ = ["FORMULA_STARTS", "accounts_table", "neutral", "review_csv", "review_xlsx"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, as text; every other value unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def accounts_table(r: ReviewReport) -> tuple[list[str], list[dict[str, Any]]]:
    """The account rows (key accounts only with --key-only, in --sort order) and their columns."""
    rows = [account_row(a, r.review.metrics) for a in r.review.accounts]
    if r.view.key_only:
        rows = [x for x in rows if x["key_account"]]
    rows = ordered(rows, r.view.sort, None)
    columns = list(rows[0]) if rows else ["account"]
    return columns, [{c: neutral(v) for c, v in x.items()} for x in rows]


def review_csv(r: ReviewReport) -> str:
    """One row per account as CSV, under the column ids (for scripts; the XLSX has the labels)."""
    columns, rows = accounts_table(r)
    return report.csv_text(rows, columns, lineterminator="\n")


def review_xlsx(r: ReviewReport, path: str | Path) -> None:
    """An XLSX file: a Summary sheet (the review's summary) and an Accounts sheet (one row per account)."""
    from openpyxl import Workbook  # only when a workbook is asked for

    wb = Workbook(write_only=True)
    summary = wb.create_sheet("Summary")
    summary.append(["Portfolio review", neutral(str(r.meta.get("file", "")))])
    summary.append(["Rules", neutral(r.rules), neutral(r.review.rules_version)])
    every = [account_row(a, r.review.metrics) for a in r.review.accounts]
    for label, text in summary_items(r.review, every, r.meta):
        summary.append([label, neutral(text)])
    sheet = wb.create_sheet("Accounts")
    columns, rows = accounts_table(r)
    titles = Columns(r.facts)
    sheet.append([titles.title(c) for c in columns])
    for row in rows:
        sheet.append([row[c] for c in columns])
    wb.save(str(path))
