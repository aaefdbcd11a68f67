"""Account tables written from columns: the review's table, filtered and ordered in polars, as CSV or Parquet.

The CSV is byte for byte what Python's csv module writes from the account rows (render/export.py,
when the review has no table), text neutralised against formula injection the same way; a
million rows never become Python objects, except the few floats polars words differently.
"""

from __future__ import annotations

import csv
import functools
import io
import operator
from collections.abc import Iterator, Sequence
from typing import IO, Any

import polars as pl

from kamrules.kam.review import PortfolioReview
from kamrules.render.rows import View, review_rows

__all__ = [
    "FORMULA_STARTS",
    "account_schema",
    "csv_text",
    "json_rows",
    "ordered_frame",
    "table_schema",
    "view_frame",
    "write_csv",
]

# A text cell starting so is run as a formula by a spreadsheet (render/export.py:neutral).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def account_schema(metrics: Sequence[str]) -> dict[str, Any]:
    """The columns of an account row (render/rows.py:account_row) and their types."""
    text, number = pl.String, pl.Float64
    return {
        "account": text,
        "name": text,
        "revenue": number,
        **{f"abc_{m}": text for m in metrics},
        "potential": number,
        "potential_confidence": number,
        "quadrant": text,
        "eligible": pl.Boolean,
        "rank": pl.Int64,
        "selection_score": number,
        "key_account": pl.Boolean,
        "review": text,
        "stage_current": text,
        "stage_recommended": text,
        "move": text,
        "action": text,
        "action_id": text,
    }


def table_schema(metrics: Sequence[str]) -> dict[str, Any]:
    """The columns of PortfolioReview.table: an account row's, then the note codes."""
    return account_schema(metrics) | {"notes": pl.List(pl.String)}


def ordered_frame(frame: pl.DataFrame, sort: str | None) -> pl.DataFrame:
    """The rows in rows.ordered's order: numbers largest first (rank smallest), text A to Z, missing last, then id."""
    if sort is None:
        return frame
    if sort not in frame.columns:  # the class of a metric the table lacks: missing on every row
        return frame.sort("account", maintain_order=True)
    c = pl.col(sort)
    if frame.schema[sort].is_numeric():
        # + 0.0 makes -0.0 equal to 0.0, as Python compares them
        key, missing = (c if sort == "rank" else -c + 0.0), c.is_null()
    else:
        key, missing = c.str.to_lowercase(), c.is_null() | (c == "")
    return frame.sort([missing, key, pl.col("account")], maintain_order=True)


def view_frame(rv: PortfolioReview, view: View, notes: bool = False) -> pl.DataFrame:
    """The account rows a view lists (key accounts only with --key-only, in --sort order), typed; notes if asked."""
    if rv.table is not None:
        frame = rv.table if notes else rv.table.drop("notes")
    else:
        frame = pl.DataFrame(review_rows(rv), schema=account_schema(rv.metrics))
        if notes:
            codes = pl.Series("notes", [list(a.notes) for a in rv.accounts], dtype=pl.List(pl.String))
            frame = frame.with_columns(codes)
    if view.key_only:
        frame = frame.filter(pl.col("key_account"))
    return ordered_frame(frame, view.sort)


def _quoting() -> list[str]:
    """The characters that make Python's csv writer quote a field (Python 3.13 added the carriage return)."""
    out = []
    for ch in (",", '"', "\n", "\r"):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([f"a{ch}", "b"])
        if buf.getvalue().startswith('"'):
            out.append(ch)
    return out


_QUOTED = _quoting()


def _text(name: str) -> pl.Expr:
    t = pl.col(name).fill_null("")
    formula = functools.reduce(operator.or_, (t.str.starts_with(s) for s in FORMULA_STARTS))
    t = pl.when(formula).then(pl.concat_str([pl.lit("'"), t])).otherwise(t)
    quoted = pl.concat_str([pl.lit('"'), t.str.replace_all('"', '""', literal=True), pl.lit('"')])
    return pl.when(t.str.contains_any(_QUOTED)).then(quoted).otherwise(t).alias(name)


def _floats(s: pl.Series) -> pl.Series:
    """Floats as Python's repr writes them: polars agrees except below 1e-4, from 1e16 on, and NaN."""
    text: pl.Series = s.cast(pl.String)
    odd = (s.is_nan() | (s.abs() >= 1e16) | ((s.abs() < 1e-4) & (s != 0))).fill_null(value=False)
    where = odd.arg_true()
    if len(where):
        text = text.scatter(where, [repr(v) for v in s.gather(where).to_list()])
    return text.fill_null("")


def _cells(frame: pl.DataFrame, name: str) -> pl.Series:
    """One column as the csv module writes its cells (True/False, None empty), before quoting."""
    dtype = frame.schema[name]
    if dtype == pl.Float64:
        return _floats(frame[name])
    c = pl.col(name)
    if dtype == pl.Boolean:
        expr = pl.when(c.is_null()).then(pl.lit("")).when(c).then(pl.lit("True")).otherwise(pl.lit("False"))
    elif dtype == pl.String:
        expr = _text(name)
    else:
        expr = c.cast(pl.String).fill_null("")
    return frame.select(expr.alias(name)).to_series()


def csv_text(frame: pl.DataFrame) -> str:
    """The rows as CSV under their column ids, as report.csv_text(rows, columns, lineterminator="\n") writes them."""
    buf = io.BytesIO()
    write_csv(frame, buf)
    return buf.getvalue().decode("utf-8")


SLICE = 200_000
"""Rows turned into CSV text at a time, so a million rows never become one text in memory."""


def write_csv(frame: pl.DataFrame, out: IO[bytes]) -> None:
    """`csv_text` written to ``out`` a slice of rows at a time."""
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow(frame.columns if frame.height else ["account"])
    out.write(head.getvalue().encode("utf-8"))
    for start in range(0, frame.height, SLICE):
        part = frame.slice(start, SLICE)
        cells = pl.DataFrame([_cells(part, c) for c in part.columns])
        # every cell is already as the csv module writes it, quotes included: polars only joins them
        cells.write_csv(out, include_header=False, quote_style="never", line_terminator="\n")


def json_rows(frame: pl.DataFrame) -> Iterator[bytes]:
    """The rows as JSON objects, a slice of rows at a time: one a line, a comma after each but the last.

    Empty text is null, as JSON says "missing".
    """
    for start in range(0, frame.height, SLICE):
        part = frame.slice(start, SLICE)
        text = [c for c, t in part.schema.items() if t == pl.String and c != "account"]
        part = part.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in text)
        buf = io.BytesIO()
        part.write_ndjson(buf)
        # A newline inside a value is written escaped, so each newline ends a row.
        yield (b",\n" if start else b"") + buf.getvalue().rstrip(b"\n").replace(b"\n", b",\n")
