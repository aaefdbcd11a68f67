"""Whole columns of string cells → typed columns, checked at once; a position is built only for an odd cell.

The same values and messages as ``cells.fact_value`` cell by cell: the cells whose reading is plain
(numbers like ``-1234.5`` below 10^15, ``true``/``false``, text that cannot be a number or a date) are
read by polars expressions; every other cell (dates, thousands separators, NaN, ``#DIV/0!``, huge
numbers) goes through ``cells.fact_value`` with its span, so a bad cell is reported exactly as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from kamrules.errors import Problem, Span
from kamrules.inputs.cells import Value, decide_decimal, fact_value
from kamrules.lang import account_id_problem

__all__ = ["FactColumn", "account_ids", "fact_column", "file_decimal"]

_LOOKS_NUMERIC = r"^(?:[+-]?[\d.,' ]*\d[\d.,' ]*([eE][+-]?\d+)?)$"
_DMY_DOT = r"^(?:\d{1,2}\.\d{1,2}\.\d{4})$"
_ISO = r"^(?:\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?)$"
_PLAIN = {".": r"^-?[0-9]{1,15}(\.[0-9]{1,13})?$", ",": r"^-?[0-9]{1,15}(,[0-9]{1,13})?$"}
_NOT_FINITE = ["nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"]
# Python's str.strip() also strips these; polars does not: such cells take the cell-by-cell path.
_ODD_SPACE = r"[\x1c-\x1f]"


def _span(file: str, row: int, col: int, raw: str) -> Span:
    return Span(file, row, col, max(len(raw), 1), cell=True)


def file_decimal(
    file: str, cells: pl.DataFrame, columns: Sequence[tuple[str, int]], rows: pl.Series, given: str | None
) -> tuple[str, list[Problem]]:
    """The file's decimal separator from the cells that settle it, as ``cells.decide_decimal`` decides it.

    ``columns`` are (frame column, column number) in file order. decide_decimal keeps the first cell
    of each kind of evidence, so it is given only the earliest cell of each kind.
    """
    if given is not None:
        return given, []
    firsts: dict[str, tuple[int, int, str]] = {}
    for name, colnum in columns:
        t = cells[name].str.strip_chars()
        cand = (t.str.contains(r"[.,]") & t.str.contains(_LOOKS_NUMERIC) & ~t.str.contains(_DMY_DOT)).fill_null(False)
        if not bool(cand.any()):
            continue
        frame = pl.DataFrame({"t": t, "raw": cells[name], "row": rows}).filter(cand)
        simple = frame["t"].str.extract_groups(r"^[+-]?(\d+)([.,])(\d+)$")
        kind = (
            pl.when((simple.struct.field("3").str.len_chars() == 3) & (simple.struct.field("1") != "0"))
            .then(pl.lit("ambiguous"))
            .otherwise(simple.struct.field("2"))
        )
        frame = frame.with_columns(kind=pl.select(kind).to_series())
        # Cells with several separators are settled cell by cell (they are few); the simple ones by kind.
        odd = frame.filter(pl.col("kind").is_null())
        for raw, row in zip(odd["raw"], odd["row"], strict=True):
            _keep(firsts, "?", row, colnum, raw)
        first_of_kind = (
            frame.filter(pl.col("kind").is_not_null())
            .group_by("kind")
            .agg(pl.col("row").first(), pl.col("raw").first())
        )
        for k, row, raw in first_of_kind.iter_rows():
            _keep(firsts, k, row, colnum, raw)
    texts = [(raw, _span(file, row, col, raw)) for row, col, raw in sorted(_flatten(firsts))]
    return decide_decimal(file, texts, None)


def _keep(firsts: dict[str, Any], kind: str, row: int, col: int, raw: str) -> None:
    if kind == "?":  # every odd cell is kept; decide_decimal reads its evidence itself
        firsts.setdefault("?", []).append((row, col, raw))
    elif kind not in firsts or (row, col) < firsts[kind][:2]:
        firsts[kind] = (row, col, raw)


def _flatten(firsts: dict[str, Any]) -> list[tuple[int, int, str]]:
    out = list(firsts.pop("?", []))
    return out + list(firsts.values())


def account_ids(
    file: str, cells: pl.Series, rows: pl.Series, col: int, problems: list[Problem]
) -> tuple[pl.Series, pl.Series]:
    """The stripped ids, and which rows hold a usable new one (missing, control characters, duplicates add problems)."""
    ids = cells.str.strip_chars().fill_null("")
    frame = pl.DataFrame({"id": ids, "raw": cells.fill_null(""), "row": rows})
    missing = frame.filter(pl.col("id") == "")
    for raw, row in zip(missing["raw"], missing["row"], strict=True):
        problems.append(
            Problem(
                _span(file, row, col, raw),
                "missing account id",
                expected="an account id",
                found="an empty cell",
                code="account",
            )
        )
    ok = ids != ""
    # Only ids with a character outside printable ASCII can hold a control character: check those one by one.
    suspect = frame.with_row_index("i").filter(pl.col("id").str.contains(r"[^\x20-\x7e]"))
    bad_rows = []
    for i, a, raw, row in suspect.select("i", "id", "raw", "row").iter_rows():
        p = account_id_problem(a, _span(file, row, col, raw))
        if p is not None:
            problems.append(p)
            bad_rows.append(i)
    if bad_rows:
        ok = ok & ~pl.Series(range(len(ids))).is_in(bad_rows)
    valid = frame.with_columns(ok=ok).with_row_index("i").filter(pl.col("ok"))
    later = valid.filter(~pl.col("id").is_first_distinct())
    if len(later):
        first = valid.group_by("id").agg(pl.col("row").min().alias("first"))
        for a, raw, row, first_row in (
            later.join(first, on="id").sort("row").select("id", "raw", "row", "first").iter_rows()
        ):
            problems.append(
                Problem(
                    _span(file, row, col, raw),
                    f"duplicate account '{a}'",
                    expected="each account once",
                    found=f"'{a}' again (first at line {first_row})",
                    code="duplicate-account",
                )
            )
        ok = ok & ~pl.Series(range(len(ids))).is_in(later["i"])
    return ids, ok


@dataclass(frozen=True)
class FactColumn:
    """One fact's column: a polars column (Decimal, Boolean, String, Date or Object when mixed).

    ``written`` keeps a Decimal column's numbers as written (``12.50`` keeps its two places).
    """

    values: pl.Series
    written: pl.Series | None = None

    def python(self) -> list[Value | None]:
        """The values as kamrules reads them cell by cell (Decimal as written, bool, date, str), None when empty."""
        if self.written is not None:
            return [None if w is None else Decimal(w) for w in self.written.to_list()]
        return list(self.values.to_list())


def fact_column(
    file: str, name: str, cells: pl.Series, rows: pl.Series, col: int, dec: str, problems: list[Problem]
) -> FactColumn:
    """One fact column read at once; odd cells one by one through cells.fact_value (which adds their problems)."""
    t = cells.str.strip_chars()
    empty = (t == "").fill_null(True)
    plain = t.str.contains(_PLAIN[dec]).fill_null(False)
    n = len(cells)
    lower = t.str.to_lowercase()
    dates = _iso_dates(t, empty, cells)
    if dates is not None:
        return FactColumn(dates.alias(name))
    none = pl.Series([False] * n)
    boolean = text = odd = none
    if bool((~(empty | plain)).any()):  # a column of plain numbers needs no other test
        boolean = lower.is_in(["true", "false"]).fill_null(False)
        numeric_like = (
            t.str.contains(_LOOKS_NUMERIC) | lower.is_in(_NOT_FINITE) | t.str.starts_with("#") | t.str.contains(_ISO)
        ) | t.str.contains(_DMY_DOT)
        text = (~numeric_like.fill_null(False)) & ~boolean & ~empty
        odd = ~(empty | plain | boolean | text) | cells.str.contains(_ODD_SPACE).fill_null(False)
        plain, boolean, text = plain & ~odd, boolean & ~odd, text & ~odd
    others: dict[int, Value] = {}
    if bool(odd.any()):
        idx = pl.Series(range(n)).filter(odd)
        for i, raw, row in zip(idx, cells.filter(odd).fill_null(""), rows.filter(odd), strict=True):
            v = fact_value((raw, _span(file, row, col, raw)), dec, problems)
            if v is not None:
                others[i] = v
    other_types = {type(v) for v in others.values()}
    has_bool, has_text, has_num = bool(boolean.any()), bool(text.any()), bool(plain.any())
    if not has_bool and not has_text and other_types <= {Decimal}:
        written = _where(plain, t.str.replace(",", ".", literal=True) if dec == "," else t)
        if others:
            written = written.scatter(list(others), [str(v) for v in others.values()])
        written = written.alias(name)
        return FactColumn(_decimals(written), written)
    if not others and not has_num and not (has_bool and has_text):  # all text or all booleans: no Python values
        return FactColumn(_where(text, t).alias(name) if has_text else _where(boolean, lower == "true").alias(name))
    return _mixed(name, n, t, lower, {"num": plain, "bool": boolean, "text": text}, others)


def _iso_dates(t: pl.Series, empty: pl.Series, cells: pl.Series) -> pl.Series | None:
    """A column of real YYYY-MM-DD days (and empty cells) as a Date column; None for any other column."""
    iso = t.str.contains(r"^\d{4}-\d{2}-\d{2}$").fill_null(False)
    if not bool(iso.any()) or not bool((empty | iso).all()) or bool(cells.str.contains(_ODD_SPACE).any()):
        return None
    dates = t.str.to_date("%Y-%m-%d", strict=False)
    # A day that is not in the calendar (2026-02-30) is left to the cell reader, which says so.
    return dates if dates.null_count() == int(empty.sum()) else None


def _where(mask: pl.Series, values: pl.Series) -> pl.Series:
    """``values`` where ``mask`` holds, null elsewhere."""
    return pl.DataFrame({"m": mask, "v": values}).select(pl.when("m").then("v")).to_series()


def _mixed(
    name: str, n: int, t: pl.Series, lower: pl.Series, masks: dict[str, pl.Series], others: dict[int, Value]
) -> FactColumn:
    """A column that is not all numbers: String or Boolean when its values agree, else Python objects."""
    values: list[Any] = [None] * n
    for kind, mask in masks.items():
        if not bool(mask.any()):
            continue
        idx = pl.Series(range(n)).filter(mask).to_list()
        if kind == "num":
            vals: list[Any] = [Decimal(x) for x in t.filter(mask).str.replace(",", ".", literal=True)]
        elif kind == "bool":
            vals = [x == "true" for x in lower.filter(mask)]
        else:
            vals = t.filter(mask).to_list()
        for i, v in zip(idx, vals, strict=True):
            values[i] = v
    for i, v in others.items():
        values[i] = v
    types = {type(v) for v in values if v is not None}
    if types == {str}:
        return FactColumn(pl.Series(name, values, dtype=pl.String))
    if types == {bool}:
        return FactColumn(pl.Series(name, values, dtype=pl.Boolean))
    return FactColumn(pl.Series(name, values, dtype=pl.Object))


def _decimals(written: pl.Series) -> pl.Series:
    """Numbers as written → an exact Decimal column with as many places as the most precise of them."""
    if bool(written.str.contains("[eE]").any()):
        # Python-read numbers may be written with an exponent (1E+3): polars parses the plain form.
        written = pl.Series(written.name, [None if w is None else format(Decimal(w), "f") for w in written])
    frac = written.str.extract(r"\.(\d+)$").str.len_chars().max()
    scale = int(frac) if isinstance(frac, int) else 0
    if scale > 20:  # below 10^15 with more places than Decimal128 holds beside them: keep the Decimals
        return pl.Series(written.name, [None if w is None else Decimal(w) for w in written], dtype=pl.Object)
    return written.str.to_decimal(scale=scale)
