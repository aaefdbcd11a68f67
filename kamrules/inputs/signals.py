"""Signals read from invoice lines over several periods, and how computed numbers are checked.

For a period P of invoice lines (``aggregate_invoices`` gives revenue, volume, purchases, margin
and ``revenue_previous``), ``add_signals`` adds, per account, the observations the stage rules
read for regress and uncoupling:

* ``revenue_trend``: revenue of P and the period before against the two periods before them,
  as a fraction ((P + P-1) / (P-2 + P-3) - 1); only when P-2 and P-3 have positive revenue;
* ``days_since_last_order``: days from the last line dated on or before the end of P to that
  end; only when the account has a line by then;
* ``order_frequency_change``: orders in P against the average of P-1..P-3, as a fraction; only
  when that average is above 0;
* ``margin_erosion``: margin rate of P-1 minus margin rate of P (margin / revenue, in points of
  revenue; positive = erosion); only when both revenues are positive and margins are given.

Numbers kamrules computes are **observations**: a real customer can grow 100-fold in a quarter.
They are checked for type and finiteness only, never against a fact's range (ranges constrain
given inputs and rule thresholds): ``kamrules.lang.observation_problem``. An account whose first-ever line is
in P has no growth rate and gets the note ``first-order``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kamrules.inputs.tables import AccountRow

if TYPE_CHECKING:  # invoices.py calls add_signals; only the types are needed here
    from kamrules.inputs.invoices import InvoiceLine, Period

__all__ = ["COMPUTED_FROM_INVOICES", "add_signals"]

# The facts an invoice review computes; all are observations.
COMPUTED_FROM_INVOICES = frozenset(
    {
        "revenue",
        "volume",
        "purchases",
        "margin",
        "revenue_previous",
        "revenue_trend",
        "days_since_last_order",
        "order_frequency_change",
        "margin_erosion",
    }
)


def _periods(period: Period, n: int) -> list[Period]:
    out = [period]
    for _ in range(n - 1):
        out.append(out[-1].previous())
    return out


class _History:
    """Per account: revenue, margin and orders in P, P-1, P-2, P-3, and the first and last line dates up to P."""

    def __init__(self, lines: Sequence[InvoiceLine], periods: Sequence[Period]) -> None:
        self.revenue: dict[str, list[Decimal]] = {}
        self.margin: dict[str, list[Decimal | None]] = {}
        self.orders: dict[str, list[set[object]]] = {}
        self.first: dict[str, dt.date] = {}
        self.last: dict[str, dt.date] = {}
        end = periods[0].end
        for li in lines:
            if li.date > end:
                continue
            a = li.account
            self.first[a] = min(self.first.get(a, li.date), li.date)
            self.last[a] = max(self.last.get(a, li.date), li.date)
            i = next((k for k, p in enumerate(periods) if li.date in p), None)
            if i is None:
                continue
            self.revenue.setdefault(a, [Decimal(0)] * 4)[i] += li.amount
            mg = self.margin.setdefault(a, [None] * 4)
            if li.margin is not None:
                mg[i] = (mg[i] or Decimal(0)) + li.margin
            self.orders.setdefault(a, [set(), set(), set(), set()])[i].add(li.invoice or id(li))


def _signals(h: _History, a: str, end: dt.date) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rv = h.revenue.get(a, [Decimal(0)] * 4)
    if rv[2] + rv[3] > 0:
        out["revenue_trend"] = float((rv[0] + rv[1]) / (rv[2] + rv[3]) - 1)
    if a in h.last:
        out["days_since_last_order"] = (end - h.last[a]).days
    n = [len(x) for x in h.orders.get(a, [set(), set(), set(), set()])]
    if sum(n[1:]) > 0:
        out["order_frequency_change"] = n[0] / (sum(n[1:]) / 3) - 1
    mg = h.margin.get(a, [None] * 4)
    m0, m1 = mg[0], mg[1]
    if rv[0] > 0 and rv[1] > 0 and m0 is not None and m1 is not None:
        out["margin_erosion"] = float(m1 / rv[1] - m0 / rv[0])
    return out


def add_signals(rows: Sequence[AccountRow], lines: Sequence[InvoiceLine], period: Period) -> list[AccountRow]:
    """The rows with the multi-period signals added, the computed facts marked observed, and notes."""
    periods = _periods(period, 4)
    h = _History(lines, periods)
    out: list[AccountRow] = []
    for row in rows:
        facts: dict[str, Any] = {**row.facts, **_signals(h, row.account, period.end)}
        notes = ("first-order",) if row.account in h.first and h.first[row.account] in period else ()
        out.append(replace(row, facts=facts, observed=COMPUTED_FROM_INVOICES, notes=notes))
    return out
