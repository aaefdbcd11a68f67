"""Invoice lines and periods: reading invoice files, totals per account and period, the input of a review."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.inputs.cells import (
    Cell,
    Value,
    account_id,
    decide_date_order,
    decide_decimal,
    number,
    number_expected,
    parse_date,
)
from kamrules.inputs.records import Record, Table, all_strings, missing_column, no_rows, parse_column_mapping
from kamrules.inputs.signals import add_signals
from kamrules.inputs.tables import AccountRow, read_account_table, read_table
from kamrules.lang import account_id_problem

__all__ = [
    "INVOICE_ROLES",
    "InvoiceLine",
    "Period",
    "aggregate_invoices",
    "latest_complete_quarter",
    "parse_period",
    "read_invoice_lines",
    "read_review_input",
]

INVOICE_ROLES = ("account", "date", "amount", "quantity", "margin", "invoice")
_REQUIRED_ROLES = ("account", "date", "amount")
_NUMERIC_ROLES = ("amount", "quantity", "margin")


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


# ---------------------------------------------------------------------------------------------
# Periods.


FIRST_YEAR = 1900  # the earliest period: before it, the periods a review looks back on would not be dates


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
            return _earlier(str(self.start.year - 1))
        if m := re.fullmatch(r"(\d{4})Q([1-4])", self.label):
            y, q = int(m[1]), int(m[2])
            return _earlier(f"{y - 1}Q4" if q == 1 else f"{y}Q{q - 1}")
        if re.fullmatch(r"\d{4}-\d{2}", self.label):
            last = self.start - dt.timedelta(days=1)
            return _earlier(f"{last.year}-{last.month:02d}")
        days = (self.end - self.start).days + 1
        end = self.start - dt.timedelta(days=1)
        start = end - dt.timedelta(days=days - 1)
        return Period(start, end, f"{start.isoformat()}..{end.isoformat()}")


def _earlier(label: str) -> Period:
    """The period before one parse_period accepted: always a period (parse_period starts at FIRST_YEAR)."""
    period = _period(label)
    assert period is not None, label
    return period


def _period(t: str) -> Period | None:
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
    return None


def parse_period(text: str, source: str = "--period") -> Period:
    """A month ``2026-07``, quarter ``2026Q3``, year ``2026`` or range ``2026-01-01..2026-03-31``."""
    period = _period(text.strip())
    # From 1900 on: the periods before it (previous period, signals over four periods) must be dates too.
    if period is not None and period.start.year >= FIRST_YEAR:
        return period
    raise InvalidInput.at(
        Span(source, 1, 1, max(len(text), 1)),
        "not a period",
        expected="a month 2026-07, a quarter 2026Q3, a year 2026 or a range 2026-01-01..2026-03-31, "
        f"from {FIRST_YEAR} on",
        found=f"'{text}'",
        code="period",
    )


# ---------------------------------------------------------------------------------------------
# Reading invoice lines.


def read_invoice_lines(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    decimal: str | None = None,
    date_format: str | None = None,
) -> list[InvoiceLine]:
    """The lines of an invoice or transaction file; ``columns`` maps roles (account, date, ...) to file columns."""
    mapping = dict(columns or {})
    _check_roles(mapping)
    table = read_table(path)
    cols = {role: mapping.get(role, role) for role in INVOICE_ROLES}
    _check_columns(table, mapping, cols)
    present = {r for r in INVOICE_ROLES if cols[r] in table.columns}
    numeric = [cols[r] for r in _NUMERIC_ROLES if r in present]
    dec, problems = decide_decimal(table.file, all_strings(table, numeric), decimal)
    order, p = decide_date_order(all_strings(table, [cols["date"]]), date_format)
    problems += p
    if problems:  # the file-wide reading is unsettled; cell-by-cell errors would only add noise
        raise InvalidInput(problems)
    lines: list[InvoiceLine] = []
    for rec in table.records:
        line = _invoice_line(rec, cols, present, dec, order, problems)
        if line is not None:
            lines.append(line)
    if problems:
        raise InvalidInput(problems)
    return lines


def _check_roles(mapping: Mapping[str, str]) -> None:
    """Refuse column mappings for roles invoice lines do not have."""
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


def _check_columns(table: Table, mapping: Mapping[str, str], cols: Mapping[str, str]) -> None:
    """Refuse a file without the required columns (or a mapped optional one), or without rows."""
    problems = [missing_column(table, r, cols[r]) for r in _REQUIRED_ROLES if cols[r] not in table.columns]
    problems += [
        missing_column(table, r, cols[r])
        for r in INVOICE_ROLES
        if r not in _REQUIRED_ROLES and r in mapping and cols[r] not in table.columns
    ]
    if problems:
        raise InvalidInput(problems)
    if not table.records:
        raise InvalidInput([no_rows(table, "one row per invoice line")])


def _cell(rec: Record, cols: Mapping[str, str], role: str) -> Cell:
    return rec.cells.get(cols[role], ("", rec.span))


def _invoice_line(
    rec: Record, cols: Mapping[str, str], present: set[str], dec: str, order: str, problems: list[Problem]
) -> InvoiceLine | None:
    """The record as an invoice line, or None when a cell is bad (each bad cell adds a problem)."""
    raw, span = _cell(rec, cols, "account")
    account = account_id(raw)
    if not account:
        problems.append(
            Problem(span, "missing account id", expected="an account id", found="an empty cell", code="account")
        )
    elif (bad_id := account_id_problem(account, span)) is not None:
        problems.append(bad_id)
    raw, span = _cell(rec, cols, "date")
    day = parse_date(raw, order)
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
    nums = _numbers(rec, cols, present, dec, problems)
    invoice = None
    if "invoice" in present:
        raw, span = _cell(rec, cols, "invoice")
        invoice = account_id(raw) or None
        if invoice is None:
            problems.append(
                Problem(span, "missing invoice id", expected="an invoice id", found="an empty cell", code="invoice")
            )
            return None
    amount = nums.get("amount")
    if not account or day is None or amount is None:
        return None
    return InvoiceLine(account, day, amount, nums.get("quantity"), nums.get("margin"), invoice, rec.span)


def _numbers(
    rec: Record, cols: Mapping[str, str], present: set[str], dec: str, problems: list[Problem]
) -> dict[str, Decimal]:
    """The valid amount, quantity and margin of a line (each bad one adds a problem)."""
    nums: dict[str, Decimal] = {}
    for role in _NUMERIC_ROLES:
        if role not in present:
            continue
        raw, span = _cell(rec, cols, role)
        n = number(raw, dec)
        if isinstance(n, str):
            problems.append(Problem(span, f"not a valid {role}", expected=number_expected(dec), found=n, code="number"))
        else:
            nums[role] = n
    return nums


# ---------------------------------------------------------------------------------------------
# Totals per period.


def aggregate_invoices(
    lines: list[InvoiceLine], period: Period, previous: Period | None = None, source: str = "<invoices>"
) -> list[AccountRow]:
    """Per-account revenue, volume, purchases, margin and the previous period's revenue, sorted by account."""
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
        if account in before:  # revenue_growth is computed from it by the rules (rules/facts.yaml)
            facts["revenue_previous"] = before[account]
        span = mine[0].span if mine else Span(source)
        rows.append(AccountRow(account, facts, Span(span.file)))
    return rows


# ---------------------------------------------------------------------------------------------
# The input of a portfolio review.


def latest_complete_quarter(lines: Sequence[InvoiceLine], as_of: dt.date) -> Period:
    """The last calendar quarter that ended before ``as_of`` and has invoice lines (the review's default period)."""
    last = min(max(li.date for li in lines), as_of)
    quarter = parse_period(f"{last.year}Q{(last.month - 1) // 3 + 1}")
    return quarter if quarter.end < as_of else quarter.previous()


def read_review_input(
    path: str,
    transactions: bool,
    period: str | None,
    previous: str | None,
    columns: str | None,
    as_of: dt.date | None = None,
) -> tuple[list[AccountRow], list[AccountRow] | None, dict[str, str]]:
    """The current rows, the previous period's rows (invoices only; None when it has no lines) and the input.

    Without ``period``, invoice lines are reviewed for the latest complete quarter before ``as_of``.
    """
    mapping = parse_column_mapping(columns) if columns else None
    if not transactions:
        return read_account_table(path, mapping), None, {"file": path, "kind": "accounts"}
    lines = read_invoice_lines(path, mapping)
    chosen = period is None
    p = latest_complete_quarter(lines, as_of or dt.date.today()) if chosen else parse_period(period or "", "--period")
    pp = parse_period(previous, "--previous") if previous else p.previous()
    if pp.end >= p.start:
        raise InvalidInput.at(
            Span("--previous"),
            f"the previous period {pp.label} does not come before {p.label}",
            expected=f"a period ending before {p.start.isoformat()}",
            found=f"{pp.start.isoformat()}..{pp.end.isoformat()}",
            code="period",
        )
    if not any(li.date in p for li in lines):
        first, last = min(li.date for li in lines), max(li.date for li in lines)
        raise InvalidInput.at(
            Span(path),
            f"no invoice lines in {p.label}",
            expected=f"lines dated {p.start.isoformat()}..{p.end.isoformat()}",
            found=f"lines from {first.isoformat()} to {last.isoformat()}",
            code="period",
            help="choose a --period the file covers",
        )
    cur = add_signals(aggregate_invoices(lines, p, pp, source=path), lines, p)
    before = None  # no lines in the previous period: its designation is unknown, not "none"
    if any(li.date in pp for li in lines):
        before = add_signals(aggregate_invoices(lines, pp, pp.previous(), source=path), lines, pp)
    meta = {"file": path, "kind": "invoices", "period": p.label, "previous_period": pp.label}
    if chosen:
        meta["period_chosen"] = "latest complete quarter"
    return cur, before, meta
