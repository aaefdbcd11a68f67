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
# Lines are grouped by a number per period (formatting a label for each of ten million lines costs more
# than the sum); the labels are made once per group afterwards.
_KEYS = {
    "quarter": pl.col("date").dt.year().cast(pl.Int32) * 10 + pl.col("date").dt.quarter().cast(pl.Int32),
    "month": pl.col("date").dt.year().cast(pl.Int32) * 100 + pl.col("date").dt.month().cast(pl.Int32),
    "year": pl.col("date").dt.year().cast(pl.Int32),
}
_LABELS = {
    "quarter": pl.format("{}Q{}", pl.col("key") // 10, pl.col("key") % 10),
    "month": pl.format("{}-{}", pl.col("key") // 100, (pl.col("key") % 100).cast(pl.String).str.pad_start(2, "0")),
    "year": pl.col("key").cast(pl.String),
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
    # One pass: the checks are summed per group beside the totals, so the file is scanned once.
    totals_lf = (
        scan.select(
            pl.col(cols["account"]).str.strip_chars().alias("account"),
            pl.col(cols["date"]).str.strip_chars().str.to_date("%Y-%m-%d", strict=False).alias("date"),
            pl.col(cols["amount"]).str.strip_chars().alias("text"),
        )
        .with_columns(
            # A day that is not real (2026-02-30) is null here; the row reader then reports it.
            ok=(
                pl.col("account").str.contains(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")
                & pl.col("text").str.contains(_PLAIN[decimal])
                & pl.col("date").is_not_null()
            ).fill_null(False),
            amount=pl.col("text").str.replace(",", ".", literal=True).str.to_decimal(scale=13),
            # places after the separator: the text's length minus where the separator stands
            places=(pl.col("text").str.len_bytes() - 1 - pl.col("text").str.find(r"[.,]")).fill_null(0),
            key=_KEYS[period],
        )
        .group_by("account", "key")
        .agg(
            revenue=pl.col("amount").sum(),
            lines=pl.len(),
            bad=(~pl.col("ok")).sum(),
            places=pl.col("places").max(),
        )
    )
    try:
        totals = totals_lf.collect(engine="streaming")
        bad = bool(totals["bad"].sum())
    except pl.exceptions.PolarsError:  # not UTF-8, a row longer than the header: the row reader says where
        bad = True
    if bad:
        # Some line is not plain: the row reader reports every bad cell (or reads what only looks odd).
        return _totals_of_lines(read_invoice_lines(name, columns, decimal), period)
    places = int(totals["places"].max() or 0)  # type: ignore[arg-type]
    return totals.sort("key", "account").select(
        "account", _LABELS[period].alias("period"), pl.col("revenue").cast(pl.Decimal(38, places)), "lines"
    )


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
