"""Signals read from invoice lines over several periods, and how computed numbers are checked.

For a period P of invoice lines (``aggregate_invoices`` gives revenue, volume, purchases, margin
and ``revenue_growth``), ``add_signals`` adds, per account, the observations the stage rules
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
given inputs and rule thresholds): ``observation_problem``. An account whose first-ever line is
in P has no growth rate and gets the note ``first-order``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from kamrules.errors import Problem, Span
from kamrules.inputs.tables import AccountRow, InvoiceLine, Period
from kamrules.lang import RuleSet, fact_value_problem

__all__ = ["COMPUTED_FROM_INVOICES", "add_signals", "observation_problem"]

# The facts an invoice review computes; all are observations.
COMPUTED_FROM_INVOICES = frozenset(
    {
        "revenue",
        "volume",
        "purchases",
        "margin",
        "revenue_growth",
        "revenue_trend",
        "days_since_last_order",
        "order_frequency_change",
        "margin_erosion",
    }
)


def observation_problem(ruleset: RuleSet, fname: str, value: Any, span: Span, context: str) -> Problem | None:
    """Why a computed value cannot reach the engine (unknown fact, wrong type, not finite), or None; never its range."""
    fact = ruleset.facts.get(fname)
    if fact is not None and fact.type in ("number", "integer") and not fact.derived:
        ok = not isinstance(value, bool) and isinstance(value, (int, float))
        ok = ok and math.isfinite(value) and (fact.type == "number" or isinstance(value, int))
        if ok:
            return None
    return fact_value_problem(ruleset, fname, value, span, span, context)


def _periods(period: Period, n: int) -> list[Period]:
    out = [period]
    for _ in range(n - 1):
        out.append(out[-1].previous())
    return out


def add_signals(rows: Sequence[AccountRow], lines: Sequence[InvoiceLine], period: Period) -> list[AccountRow]:
    """The rows with the multi-period signals added, the computed facts marked observed, and notes."""
    p0, p1, p2, p3 = _periods(period, 4)
    revenue: dict[str, list[Decimal]] = {}
    margin: dict[str, list[Decimal | None]] = {}
    orders: dict[str, list[set]] = {}
    last: dict[str, Any] = {}
    first: dict[str, Any] = {}
    for li in lines:
        if li.date > p0.end:
            continue
        a = li.account
        if a not in first or li.date < first[a]:
            first[a] = li.date
        if a not in last or li.date > last[a]:
            last[a] = li.date
        for i, p in enumerate((p0, p1, p2, p3)):
            if li.date in p:
                rv = revenue.setdefault(a, [Decimal(0)] * 4)
                rv[i] += li.amount
                mg = margin.setdefault(a, [None] * 4)
                if li.margin is not None:
                    mg[i] = (mg[i] or Decimal(0)) + li.margin
                orders.setdefault(a, [set(), set(), set(), set()])[i].add(li.invoice or id(li))
                break
    out: list[AccountRow] = []
    for row in rows:
        a = row.account
        facts = dict(row.facts)
        notes: list[str] = []
        rv = revenue.get(a, [Decimal(0)] * 4)
        base = rv[2] + rv[3]
        if base > 0:
            facts["revenue_trend"] = float((rv[0] + rv[1]) / base - 1)
        if a in last:
            facts["days_since_last_order"] = (p0.end - last[a]).days
        n = [len(s) for s in orders.get(a, [set()] * 4)]
        avg = sum(n[1:]) / 3
        if avg > 0:
            facts["order_frequency_change"] = n[0] / avg - 1
        mg = margin.get(a, [None] * 4)
        if rv[0] > 0 and rv[1] > 0 and mg[0] is not None and mg[1] is not None:
            facts["margin_erosion"] = float(mg[1] / rv[1] - mg[0] / rv[0])
        if a in first and first[a] in p0:
            notes.append("first-order")
        out.append(replace(row, facts=facts, observed=COMPUTED_FROM_INVOICES, notes=tuple(notes)))
    return out
