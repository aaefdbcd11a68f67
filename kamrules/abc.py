"""ABC (Pareto) classes, computed ABC limits and concentration measures, in exact decimal arithmetic.

Conventions, the same in every function here:

* Ranking: value descending, ties broken by account id ascending, so a result never depends on
  input order. Among tied values at a class boundary the account with the smaller id gets the
  better class.
* Shares are taken over the sum of the *positive* values. An account with value <= 0 (no sales,
  or returns exceeding sales) contributes nothing: it has share 0, ``nonpositive=True``, is
  ranked after every positive account and is always class C. If no value is positive, every
  account is class C and every share is 0.
* Class boundaries are decided exactly (cumulative sums compared with cut-off x total, or exact
  fractions for the computed ABC); the ``share`` and ``cumulative_share`` reported on each row
  are quotients rounded to 28 significant digits, for display only.
* Fixed cut-offs: class A is the smallest set of top accounts whose cumulative share reaches the
  A cut-off (the account that crosses the line is in A); B likewise up to the B cut-off; the
  rest C. A single positive account is therefore A; n equal values give A to the first
  ceil(a_cut * n) of them.
* Computed ABC (Ultsch & Lötsch 2015, PLoS One 10(6): e0129767, doi
  10.1371/journal.pone.0129767; R package ABCanalysis): on the ABC curve of points
  (i/n, cumulative share of the top i), the Pareto point is the point nearest (0, 1), the
  break-even point is the one where the curve's slope is nearest 1 (the rightmost if several),
  the A/B limit is the leftmost of the two and the B/C limit (submarginal point) is the point
  nearest (x of the rightmost of the two, 1). The slope at point i is that of the segment
  reaching it, n * v_i / total, which is exact and reproduces the published SwissInhabitants
  result. It needs positive values; anything else is an InvalidInput.
"""
from __future__ import annotations

import math
from operator import itemgetter
from dataclasses import dataclass
from decimal import Decimal, Inexact, localcontext
from fractions import Fraction
from typing import Mapping

from .errors import InvalidInput, Problem, Span

__all__ = ["AbcRow", "AbcLimits", "ComputedAbc", "Concentration", "abc_classes", "computed_abc", "concentration"]

# Sums of money never need more digits than this; the classification checks that nothing rounds.
_PREC = 80


@dataclass(frozen=True)
class AbcRow:
    """One account's place in an ABC analysis."""

    account: str
    value: Decimal
    rank: int
    share: Decimal
    cumulative_share: Decimal
    cls: str
    nonpositive: bool = False


@dataclass(frozen=True)
class AbcLimits:
    """The points of a computed ABC analysis, as (share of accounts, cumulative share of value)."""

    pareto: tuple[Decimal, Decimal]
    break_even: tuple[Decimal, Decimal]
    ab_limit: tuple[Decimal, Decimal]
    bc_limit: tuple[Decimal, Decimal]
    a_count: int
    b_count: int
    c_count: int


@dataclass(frozen=True)
class ComputedAbc:
    """Rows classed by limits derived from the data, and those limits."""

    rows: list[AbcRow]
    limits: AbcLimits


@dataclass(frozen=True)
class Concentration:
    """How concentrated a total is across accounts; the share fields are None when nothing is positive."""

    accounts: int
    positive_accounts: int
    total: Decimal
    top20_accounts: int
    top20_share: Decimal | None
    gini: Decimal | None
    hhi: Decimal | None


_ZERO = Decimal(0)
_ONE = Decimal(1)


def _ranked(values: Mapping[str, Decimal]) -> list[tuple[str, Decimal]]:
    # Two stable sorts (id, then value descending) avoid building a negated Decimal per key.
    return sorted(sorted(values.items(), key=itemgetter(0)), key=itemgetter(1), reverse=True)


def _check_values(values: Mapping[str, Decimal]) -> None:
    for account, value in values.items():
        if not isinstance(value, Decimal) or not value.is_finite():
            raise TypeError(f"value for account {account!r} must be a finite Decimal, got {value!r}")


def abc_classes(
    values: Mapping[str, Decimal], a_cut: Decimal = Decimal("0.80"), b_cut: Decimal = Decimal("0.95")
) -> list[AbcRow]:
    """Class every account A, B or C by fixed cumulative-share cut-offs; rows in rank order."""
    if not (Decimal(0) < a_cut <= b_cut <= Decimal(1)):
        raise ValueError(f"cut-offs must satisfy 0 < a_cut <= b_cut <= 1, got {a_cut} and {b_cut}")
    _check_values(values)
    ranked = _ranked(values)
    with localcontext() as ctx:
        ctx.prec = _PREC
        ctx.traps[Inexact] = True  # a rounded sum could move an account across a class line
        total = sum((v for _, v in ranked if v > _ZERO), _ZERO)
        a_line, b_line = a_cut * total, b_cut * total
        before: list[Decimal] = []
        cums: list[Decimal] = []
        cum = Decimal(0)
        for _, value in ranked:
            before.append(cum)
            if value > _ZERO:
                cum += value
            cums.append(cum)
    rows: list[AbcRow] = []
    append = rows.append
    for rank, ((account, value), prev, cum) in enumerate(zip(ranked, before, cums), start=1):
        if value <= _ZERO or total <= _ZERO:
            append(AbcRow(account, value, rank, _ZERO, _ONE if total > _ZERO else _ZERO, "C", value <= _ZERO))
            continue
        # An account belongs to the class whose line it reaches or crosses; the next one starts after.
        cls = "C" if prev >= b_line else "B" if prev >= a_line else "A"
        append(AbcRow(account, value, rank, value / total, cum / total, cls))
    return rows


def computed_abc(values: Mapping[str, Decimal], source: str = "<values>") -> ComputedAbc:
    """Class accounts by the limits Ultsch & Lötsch's computed ABC analysis reads from the data."""
    _check_values(values)
    bad = [
        Problem(Span(source), f"account '{a}' has no positive value", expected="a value > 0", found=str(v),
                help="computed ABC analysis works on positive values only; use fixed cut-offs or leave the account out",
                code="abc-nonpositive")
        for a, v in sorted(values.items()) if v <= 0
    ]
    if not values:
        bad.append(Problem(Span(source), "no values to analyse", expected="at least one account", found="none",
                           code="abc-empty"))
    if bad:
        raise InvalidInput(bad)
    ranked = _ranked(values)
    n = len(ranked)
    fr = [Fraction(v) for _, v in ranked]
    total = sum(fr, Fraction(0))
    ys = [Fraction(0)]
    for v in fr:
        ys.append(ys[-1] + v / total)
    xs = [Fraction(i, n) for i in range(n + 1)]

    def nearest(px: Fraction, py: Fraction, start: int) -> int:
        return min(range(start, n + 1), key=lambda i: ((xs[i] - px) ** 2 + (ys[i] - py) ** 2, i))

    # Point 0 is the curve's artificial origin (no accounts); it only wins a tie when n == 1,
    # where it would leave the single account out of A.
    pareto = nearest(Fraction(0), Fraction(1), 1)
    slopes = [abs(n * v / total - 1) for v in fr]
    best = min(slopes)
    break_even = max(i for i, s in enumerate(slopes, start=1) if s == best)
    ab = min(pareto, break_even)
    bc = max(nearest(xs[max(pareto, break_even)], Fraction(1), 0), ab)
    rows = abc_classes(values, Decimal(1), Decimal(1))  # shares and ranks; classes replaced below
    rows = [
        AbcRow(r.account, r.value, r.rank, r.share, r.cumulative_share,
               "A" if r.rank <= ab else "B" if r.rank <= bc else "C")
        for r in rows
    ]

    def point(i: int) -> tuple[Decimal, Decimal]:
        return (_dec(xs[i]), _dec(ys[i]))

    limits = AbcLimits(point(pareto), point(break_even), point(ab), point(bc), ab, bc - ab, n - bc)
    return ComputedAbc(rows, limits)


def concentration(values: Mapping[str, Decimal]) -> Concentration:
    """Top-20% share, Gini coefficient and Herfindahl-Hirschman index; values <= 0 count as 0.

    Top 20% means the first ceil(n / 5) accounts in rank order (at least one). Gini is
    sum((2i - n - 1) x_i) / (n sum x) over the n values in ascending order, 0 when all are
    equal and (n - 1) / n when one account has everything. HHI is the sum of squared shares,
    from 1/n to 1 (multiply by 10,000 for the antitrust points scale).
    """
    _check_values(values)
    n = len(values)
    xs = sorted(Fraction(max(v, Decimal(0))) for v in values.values())
    total = sum(xs, Fraction(0))
    positive = sum(1 for x in xs if x > 0)
    top_k = math.ceil(n / 5) if n else 0
    if total <= 0:
        return Concentration(n, positive, _dec(total), top_k, None, None, None)
    top = sum(xs[n - top_k:], Fraction(0)) / total
    gini = sum(((2 * i - n - 1) * x for i, x in enumerate(xs, start=1)), Fraction(0)) / (n * total)
    hhi = sum(((x / total) ** 2 for x in xs), Fraction(0))
    return Concentration(n, positive, _dec(total), top_k, _dec(top), _dec(gini), _dec(hhi))


def _dec(q: Fraction) -> Decimal:
    return Decimal(q.numerator) / Decimal(q.denominator)
