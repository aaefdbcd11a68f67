"""What the functions of the expression language mean, defined once: rounding and whole months between dates."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any


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
    """Whole months from a to b: the largest N with a + N months (day clamped to the month's end) not after b.

    2026-01-15 → 2026-02-14 is 0, → 2026-02-15 is 1; month ends count whole: 2026-01-31 → 2026-02-28
    is 1, 2026-03-31 → 2026-06-30 is 3 (a quarter), 2026-01-31 → 2026-02-27 is 0. Negative when b is earlier.
    """
    if b < a:
        return -months_between(b, a)
    months = (b.year - a.year) * 12 + b.month - a.month
    # a + months lands on a's day, or on the last day of b's month when that month is shorter
    anniversary = min(a.day, calendar.monthrange(b.year, b.month)[1])
    return months - 1 if b.day < anniversary else months


def jsonable(v: Any) -> Any:
    """A value as JSON holds it: dates as ISO text, tuples as lists."""
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, tuple):
        return [jsonable(x) for x in v]
    return v
