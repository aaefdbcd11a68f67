"""Account tables as polars frames: the columnar input of a review, and the same AccountRows as before on demand.

Money is exact: a numeric column is a polars Decimal column (Decimal128, as many places as its most
precise cell; every accepted number is below 10^15 with at most 28 significant digits, so it fits),
and each number is also kept as written, so ``rows()`` gives the very Decimals the cell-by-cell
reader gave (``12.50`` keeps its two places). Integer minor units are derived from a Decimal column
where a computation wants them (ABC: ``to_physical()`` is the value times 10^scale, exact).

CSV account tables are read column by column (``grid``, ``columns``); JSON, YAML and XLSX tables and
invoice lines are read by the row readers and turned into a frame.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from kamrules.errors import InvalidInput, Span
from kamrules.inputs.cells import Value
from kamrules.inputs.columns import FactColumn, account_ids, fact_column, file_decimal
from kamrules.inputs.grid import ROW, read_csv_grid
from kamrules.inputs.records import Table, empty_file, missing_column, no_rows, parse_column_mapping
from kamrules.inputs.tables import AccountRow, _not_invoice_lines

__all__ = ["AccountFrame", "ReviewFrame", "frame_of_rows", "read_account_frame", "read_review_frame"]


@dataclass(frozen=True)
class AccountFrame:
    """One row per account: ``account`` (String) and one column per fact, with where each row stands."""

    file: str
    accounts: pl.DataFrame
    lines: pl.Series  # each account's row (CSV) or line in the file
    columns: Mapping[str, int] | None = None  # fact → column number in a CSV or XLSX table
    facts: Mapping[str, FactColumn] = field(default_factory=dict)
    given_rows: list[AccountRow] | None = None  # the rows a row reader gave, kept as they were

    def rows(self) -> list[AccountRow]:
        """Exactly the AccountRows the cell-by-cell reader gives."""
        if self.given_rows is not None:
            return self.given_rows
        ids = self.accounts["account"].to_list()
        names = list(self.facts)
        cols = [self.facts[n].python() for n in names]
        out = []
        for k, (account, line) in enumerate(zip(ids, self.lines.to_list(), strict=True)):
            facts: dict[str, Value] = {}
            for n, c in zip(names, cols, strict=True):
                v = c[k]
                if v is not None:
                    facts[n] = v
            out.append(AccountRow(account, facts, Span(self.file, line, 1, cell=True), self.columns))
        return out


def read_account_frame(
    path: str | Path, columns: Mapping[str, str] | None = None, decimal: str | None = None
) -> AccountFrame:
    """An account table as a frame; a CSV file is read and checked column by column, other formats row by row."""
    name = str(path)
    if Path(name).suffix.lower() not in (".csv", ".txt", ".tsv"):
        from kamrules.inputs.tables import read_account_table

        return frame_of_rows(name, read_account_table(name, columns, decimal))
    grid = read_csv_grid(name)
    mapping = dict(columns or {})
    rename = {v: k for k, v in mapping.items()}
    shell = Table(name, grid.columns, [], {})
    _not_invoice_lines(shell, rename)
    account_col = mapping.get("account", "account")
    if account_col not in grid.columns:
        if not len(grid.cells):
            raise empty_file(name, "a header row and one row per account")
        raise InvalidInput([missing_column(shell, "account", account_col)])
    if not len(grid.cells):
        raise InvalidInput([no_rows(shell, "one row per account")])
    problems = [
        missing_column(shell, fact, col)
        for fact, col in mapping.items()
        if fact != "account" and col not in grid.columns
    ]
    fact_cols = [c for c in grid.columns if c != account_col]
    numbered = [(grid.column(c), grid.header.index(c) + 1) for c in fact_cols]
    rows = grid.cells[ROW]
    dec, p = file_decimal(name, grid.cells, numbered, rows, decimal)
    if p:  # every number in the file would be read wrongly; cell-by-cell errors would only add noise
        raise InvalidInput(problems + p)
    acol = grid.header.index(account_col) + 1
    ids, ok = account_ids(name, grid.cells[grid.column(account_col)], rows, acol, problems)
    cells = grid.cells.filter(ok)
    kept_rows = cells[ROW]
    facts: dict[str, FactColumn] = {}
    for c, (frame_col, colnum) in zip(fact_cols, numbered, strict=True):
        facts[rename.get(c, c)] = fact_column(name, c, cells[frame_col], kept_rows, colnum, dec, problems)
    if problems:
        raise InvalidInput(problems)
    accounts = pl.DataFrame([ids.filter(ok).alias("account"), *(_typed(n, f) for n, f in facts.items())])
    header_cols = {rename.get(c, c): colnum for c, (_, colnum) in zip(fact_cols, numbered, strict=True)}
    return AccountFrame(name, accounts, kept_rows, header_cols, facts)


def _typed(name: str, f: FactColumn) -> pl.Series:
    """The frame's column of a fact: ``name`` as text, the others as read."""
    if name == "name" and f.values.dtype != pl.String:
        return pl.Series(name, [None if v is None else str(v) for v in f.python()], dtype=pl.String)
    return f.values.alias(name)


def frame_of_rows(file: str, rows: list[AccountRow]) -> AccountFrame:
    """A frame of AccountRows a row reader gave (JSON, YAML, XLSX, invoice totals); ``rows()`` gives them back."""
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r.facts if k not in names)
    data = [pl.Series("account", [r.account for r in rows], dtype=pl.String)]
    for n in names:
        data.append(_series(n, [r.facts.get(n) for r in rows]))
    lines = pl.Series("line", [r.span.line for r in rows], dtype=pl.UInt32)
    return AccountFrame(file, pl.DataFrame(data), lines, None, {}, rows)


def _series(name: str, values: list[Any]) -> pl.Series:
    """A column of Python values: exact Decimal, Boolean, Date, String or Float64 when they agree, else Object."""
    types = {type(v) for v in values if v is not None}
    if types <= {Decimal, int} and types and bool not in types:
        written = pl.Series(name, [None if v is None else format(Decimal(v), "f") for v in values], dtype=pl.String)
        frac = written.str.extract(r"\.(\d+)$").str.len_chars().max()
        scale = int(frac) if isinstance(frac, int) else 0
        if scale <= 20:
            return written.str.to_decimal(scale=scale)
    if name == "name" and types:
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)
    for kind, dtype in ((bool, pl.Boolean), (str, pl.String), (dt.date, pl.Date), (float, pl.Float64)):
        if types == {kind}:
            return pl.Series(name, values, dtype=dtype)
    return pl.Series(name, values, dtype=pl.Object)


@dataclass(frozen=True)
class ReviewFrame:
    """The input of a columnar review: this period's accounts, the previous period's (or None) and the input."""

    current: AccountFrame
    previous: AccountFrame | None
    meta: dict[str, str]

    @property
    def accounts(self) -> pl.DataFrame:
        """This period's accounts."""
        return self.current.accounts

    @property
    def before(self) -> pl.DataFrame | None:
        """The previous period's accounts (invoice lines only), None when it has no lines."""
        return self.previous.accounts if self.previous is not None else None

    def rows(self) -> list[AccountRow]:
        """This period's AccountRows, exactly as read_review_input gives them."""
        return self.current.rows()

    def before_rows(self) -> list[AccountRow] | None:
        """The previous period's AccountRows, as read_review_input gives them."""
        return self.previous.rows() if self.previous is not None else None


def read_review_frame(
    file: str,
    transactions: bool,
    period: str | None,
    previous: str | None,
    columns: str | None,
    today: dt.date | None = None,
) -> ReviewFrame:
    """The review's input as frames (the same accounts, periods and meta as read_review_input)."""
    if not transactions:
        mapping = parse_column_mapping(columns) if columns else None
        return ReviewFrame(read_account_frame(file, mapping), None, {"file": file, "kind": "accounts"})
    from kamrules.inputs.invoices import read_review_input

    cur, before, meta = read_review_input(file, True, period, previous, columns, today)
    return ReviewFrame(frame_of_rows(file, cur), None if before is None else frame_of_rows(file, before), meta)
