"""What the functions of the expression language mean, defined once: rounding and whole months between dates."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal


def round_half_away(x: int | float, places: int | None = None) -> int | float:
    """Round half away from zero, on the number as written (2.675 → 2.68, -0.5 → -1); no places: a whole number."""
    if isinstance(x, int):
        return x
    if abs(x) >= 1e15:  # every float this large is already whole; Decimal would run out of digits
        return int(x) if places is None else x
    q = Decimal(1).scaleb(-(places or 0))
    r = Decimal(repr(x)).quantize(q, rounding=ROUND_HALF_UP)
    return int(r) if places is None else float(r)


def months_between(a: dt.date, b: dt.date) -> int:
    """Whole months from a to b (negative when b is earlier): 2026-01-31 → 2026-02-28 is 0, → 2026-03-31 is 2."""
    if b < a:
        return -months_between(b, a)
    months = (b.year - a.year) * 12 + b.month - a.month
    return months - 1 if b.day < a.day else months
