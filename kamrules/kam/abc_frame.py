"""ABC of one column of an account frame: exact integer minor units from the Decimal column, no row objects.

The same classes, ranks and shares as ``abc_table.abc_rows`` (the frame's rows read through
``kam/abc.py``): the Decimal column's physical integers are the values times 10^scale, exact, and the
ranking key is the one ``kam/abc._classify`` uses (value descending, account id ascending). Rows are
made from the arrays only when they are written. A column that is not all numbers, or numbers that
do not fit int64 sums, take ``abc_rows`` on the frame's rows (the same problems and the exact path).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from kamrules.inputs.frames import AccountFrame
from kamrules.kam.abc import AbcResult, AbcRow, _check_cuts, _classify, _fits
from kamrules.kam.abc_table import abc_rows
from kamrules.kam.computed_abc import ComputedAbc, computed_of_ranked
from kamrules.kam.settings import Settings

__all__ = ["abc_of_frame"]


class _Written(Sequence[Decimal]):
    """The column's numbers as written (12.5 stays 12.5 in a column with two places), made when read."""

    def __init__(self, written: list[str]) -> None:
        self._w = written

    def __len__(self) -> int:
        return len(self._w)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [Decimal(w) for w in self._w[i]]
        return Decimal(self._w[i])

    def text(self, order: list[int]) -> list[str]:
        """str() of the numbers at these places; a number written as Decimal prints it is not parsed again."""
        w = self._w
        canonical = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
        return [x if canonical.fullmatch(x) else str(Decimal(x)) for x in map(w.__getitem__, order)]


def _units(frame: AccountFrame, metric: str) -> tuple[np.ndarray, int] | None:
    """The metric as exact int64 multiples of 10**-scale, or None when the column is not that (the row path decides)."""
    if metric not in frame.accounts.columns or metric not in frame.facts:
        return None
    col = frame.accounts[metric]
    if not isinstance(col.dtype, pl.Decimal) or col.null_count():
        return None
    scale = col.dtype.scale or 0
    phys = col.to_physical()
    n = len(phys)
    if n == 0:
        return None
    lo, hi = int(phys.min()), int(phys.max())  # type: ignore[arg-type]
    if not _fits(lo, hi, n):
        return None
    return phys.cast(pl.Int64).to_numpy(), scale


def abc_of_frame(
    frame: AccountFrame, metric: str, method: str, settings: Settings
) -> tuple[Sequence[AbcRow], ComputedAbc | None]:
    """The ABC analysis of one numeric column of an account frame, as `kamrules abc` runs it."""
    units = _units(frame, metric)
    if units is None or (method == "computed" and not bool((units[0] > 0).all())):
        # Empty cells, text, huge numbers, or computed ABC with values <= 0: the row path says what and how.
        return abc_rows(frame.file, metric, method, settings, rows=frame.rows())
    ints, scale = units
    written = frame.facts[metric].written
    accounts = frame.accounts["account"]
    originals = _Written(written.to_list()) if written is not None else None
    if method == "computed":  # every value is positive here (checked above)
        c = computed_of_ranked(classify_units(accounts, originals, ints, scale, Decimal(1), Decimal(1)))
        return c.rows, c
    return classify_units(accounts, originals, ints, scale, settings.a_cut, settings.b_cut), None


def classify_units(
    accounts: pl.Series,
    originals: Sequence[Decimal] | None,
    ints: np.ndarray,
    scale: int,
    a_cut: Decimal,
    b_cut: Decimal,
) -> AbcResult:
    """Fixed-cut-off ABC of int64 values (checked by _fits) beside unique account ids, ranked exactly."""
    _check_cuts(a_cut, b_cut)
    # Each id's place in id order: polars sorts strings by UTF-8 bytes, which is code point order, Python's order.
    pos = (accounts.rank("ordinal").cast(pl.Int64) - 1).to_numpy()
    # The ids stay a polars column: as a list they would be a million Python strings per metric, and a
    # review reads only the rows it shows (AbcResult turns the column into a list only when all are read).
    return _classify(accounts, originals, ints, scale, a_cut, b_cut, pos)
