"""Invoice lines totalled per account and period by a polars group_by over a lazy scan (streamed, not held whole).

A file whose every line is plain (an account id, an ISO date, an amount like ``-1234.56`` or, with a
decimal comma, ``-1234,56``) is totalled by the query alone; any other file is read by the row reader
(``invoices.read_invoice_lines``), which reports each bad cell with its row and column as before.
Sums are exact: amounts are parsed into Decimal128 with 13 places (every accepted amount is below 10^15,
so ten million of them stay below 10^23 within the 38 digits) and shown with as many places as the file
uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from kamrules.errors import InvalidInput, Span
from kamrules.inputs.invoices import InvoiceLine, read_invoice_lines

__all__ = ["totals_per_period"]

_PLAIN = {".": r"^-?[0-9]{1,15}(\.[0-9]{1,13})?$", ",": r"^-?[0-9]{1,15}(,[0-9]{1,13})?$"}
_ISO_DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_PERIODS = {
    "quarter": pl.format("{}Q{}", pl.col("date").dt.year(), pl.col("date").dt.quarter()),
    "month": pl.col("date").dt.strftime("%Y-%m"),
    "year": pl.col("date").dt.year().cast(pl.String),
}


def _delimiter(path: str) -> str:
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8", errors="replace").removeprefix("\ufeff")
    return max((";", ",", "\t"), key=first.count)


def totals_per_period(
    path: str | Path, period: str = "quarter", columns: Mapping[str, str] | None = None, decimal: str = "."
) -> pl.DataFrame:
    """Revenue and lines per account and period (``quarter``, ``month`` or ``year``), sorted by period and account."""
    name = str(path)
    if not Path(name).is_file():
        raise InvalidInput.at(Span(name), "file not found")
    cols = {r: (columns or {}).get(r, r) for r in ("account", "date", "amount")}
    scan = pl.scan_csv(name, separator=_delimiter(name), infer_schema=False, encoding="utf8", quote_char='"')
    have = scan.collect_schema().names()
    if have and have[0].startswith("\ufeff"):
        scan = scan.rename({have[0]: have[0].removeprefix("\ufeff")})
        have[0] = have[0].removeprefix("\ufeff")
    if any(c not in have for c in cols.values()):
        read_invoice_lines(name, columns, decimal)  # names the missing column with its hint
    lines = scan.select(
        pl.col(cols["account"]).str.strip_chars().alias("account"),
        pl.col(cols["date"]).str.strip_chars().alias("day"),
        pl.col(cols["amount"]).str.strip_chars().alias("amount"),
    ).with_columns(
        ok=pl.col("account").str.contains(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")
        & pl.col("day").str.contains(_ISO_DAY)
        & pl.col("amount").str.contains(_PLAIN[decimal]),
        date=pl.col("day").str.to_date("%Y-%m-%d", strict=False),
        places=pl.col("amount").str.extract(r"[.,]([0-9]+)$").str.len_chars().fill_null(0),
    )
    try:
        check = lines.select(
            bad=(~pl.col("ok").fill_null(False) | pl.col("date").is_null()).sum(), places=pl.col("places").max()
        ).collect(engine="streaming")
        bad = bool(check["bad"][0])
    except pl.exceptions.PolarsError:  # not UTF-8, a row longer than the header: the row reader says where
        bad = True
    if bad:
        # Some line is not plain: the row reader reports every bad cell (or reads what only looks odd).
        read = read_invoice_lines(name, columns, decimal)
        return _totals_of_lines(read, period)
    places = int(check["places"][0] or 0)
    # The day itself is checked above (2026-02-30 is null, so the file took the row reader).
    amount = pl.col("amount").str.replace(",", ".", literal=True).str.to_decimal(scale=13)
    totals = (
        lines.with_columns(period=_PERIODS[period], amount=amount)
        .group_by("account", "period")
        .agg(revenue=pl.col("amount").sum(), lines=pl.len())
        .with_columns(pl.col("revenue").cast(pl.Decimal(38, places)))
        .sort("period", "account")
    )
    return totals.collect(engine="streaming")


def _totals_of_lines(lines: list[InvoiceLine], period: str) -> pl.DataFrame:
    """The same table from invoice lines the row reader gave (a file with odd dates, thousands or non-ASCII ids)."""

    def labels(d: dt.date) -> str:
        if period == "quarter":
            return f"{d.year}Q{(d.month - 1) // 3 + 1}"
        return f"{d.year}-{d.month:02d}" if period == "month" else str(d.year)

    sums: dict[tuple[str, str], list[Any]] = {}
    for li in lines:
        s = sums.setdefault((labels(li.date), li.account), [Decimal(0), 0])
        s[0] += li.amount
        s[1] += 1
    keys = sorted(sums)
    return pl.DataFrame(
        {
            "account": [a for _, a in keys],
            "period": [p for p, _ in keys],
            "revenue": [sums[k][0] for k in keys],
            "lines": pl.Series([sums[k][1] for k in keys], dtype=pl.UInt32),
        }
    )
