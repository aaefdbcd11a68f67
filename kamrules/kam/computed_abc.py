"""Computed ABC analysis: class limits read from the shape of the data, in exact arithmetic.

Computed ABC (Ultsch & Lötsch 2015, PLoS One 10(6): e0129767, doi
10.1371/journal.pone.0129767; R package ABCanalysis): on the ABC curve of points
(i/n, cumulative share of the top i), the Pareto point is the point nearest (0, 1), the
break-even point is the one where the curve's slope is nearest 1 (the rightmost if several),
the A/B limit is the leftmost of the two and the B/C limit (submarginal point) is the point
nearest (x of the rightmost of the two, 1). The slope at point i is that of the segment
reaching it, n * v_i / total, which is exact (the R package smooths the curve and reads it on a
grid, so its limits can differ by a few accounts). The limits are read from the positive values;
accounts with a zero or negative value (no sales, or returns) are class C, ranked after every
positive account, and the result carries a note saying how many there are. Only an empty input
is an InvalidInput.

Ranking and shares follow the conventions of kamrules/kam/abc.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction

import numpy as np

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.kam.abc import (
    AbcResult,
    AbcRow,
    _abc_classes_exact,
    _check_values,
    _classify,
    _dec,
    _ranked,
    _scaled,
    abc_classes,
)

__all__ = ["AbcLimits", "ComputedAbc", "computed_abc", "computed_of_ranked"]


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

    rows: Sequence[AbcRow]
    limits: AbcLimits
    # what a reader should know about how the limits were read (accounts left to class C)
    notes: tuple[str, ...] = ()


def _computed_abc_exact(values: Mapping[str, Decimal], source: str) -> ComputedAbc:
    """The pure-Python reference for computed_abc, in Fractions; used when the values do not fit int64."""
    _check_values(values)
    bad = [
        Problem(
            Span(source),
            f"account '{a}' has no positive value",
            expected="a value > 0",
            found=str(v),
            help="computed ABC analysis works on positive values only; use fixed cut-offs or leave the account out",
            code="abc-nonpositive",
        )
        for a, v in sorted(values.items())
        if v <= 0
    ]
    if not values:
        bad.append(
            Problem(
                Span(source), "no values to analyse", expected="at least one account", found="none", code="abc-empty"
            )
        )
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
    rows = _abc_classes_exact(values, Decimal(1), Decimal(1))  # shares and ranks; classes replaced below
    rows = [
        AbcRow(
            r.account,
            r.value,
            r.rank,
            r.share,
            r.cumulative_share,
            "A" if r.rank <= ab else "B" if r.rank <= bc else "C",
        )
        for r in rows
    ]

    def point(i: int) -> tuple[Decimal, Decimal]:
        return (_dec(xs[i]), _dec(ys[i]))

    limits = AbcLimits(point(pareto), point(break_even), point(ab), point(bc), ab, bc - ab, n - bc)
    return ComputedAbc(rows, limits)


def computed_abc(values: Mapping[str, Decimal], source: str = "<values>") -> ComputedAbc:
    """Class accounts by the limits Ultsch & Lötsch's computed ABC analysis reads from the data.

    Zero and negative values are class C with a note; the limits are read from the positive values.
    """
    try:
        nonpositive = sum(1 for v in values.values() if not v > 0)
    except (TypeError, ArithmeticError):
        _check_values(values)  # names the account whose value is not a finite Decimal
        raise
    if not nonpositive:
        return _computed_positive(values, source)
    positive = {a: v for a, v in values.items() if v > 0}
    base = _computed_positive(positive, source) if positive else None
    ab = base.limits.a_count if base else 0
    bc = ab + base.limits.b_count if base else 0
    ranked = abc_classes(values, Decimal(1), Decimal(1))  # ranks and shares of every account; classes below
    if ranked._rows is None:
        rows: Sequence[AbcRow] = ranked._reclassed(ab, bc)
    else:
        rows = [replace(r, cls="A" if r.rank <= ab else "B" if r.rank <= bc else "C") for r in ranked._rows]
    origin = (Decimal(0), Decimal(0))
    lim = base.limits if base else AbcLimits(origin, origin, origin, origin, 0, 0, 0)
    limits = replace(lim, c_count=len(values) - bc)
    s = "s" if nonpositive != 1 else ""
    note = (
        f"{nonpositive} account{s} with a zero or negative value {'are' if s else 'is'} in class C; "
        f"the limits are read from the {len(positive)} positive value{'s' if len(positive) != 1 else ''}"
    )
    return ComputedAbc(rows, limits, (note,))


def _computed_positive(values: Mapping[str, Decimal], source: str) -> ComputedAbc:
    """computed_abc of values that are all positive."""
    scaled = _scaled(values)
    if scaled is None or not bool((scaled[2] > 0).all()):
        return _computed_abc_exact(values, source)  # also raises the problems for values <= 0
    accounts, originals, ints, scale = scaled
    return computed_of_ranked(_classify(accounts, originals, ints, scale, Decimal(1), Decimal(1)))


def computed_of_ranked(res: AbcResult) -> ComputedAbc:
    """Computed ABC of positive int64 values already ranked (``_classify`` with cut-offs 1 and 1)."""
    n, total, cum = len(res), res._total, res._cum

    def dist(i: int, m: int) -> int:
        # n^2 T^2 times the squared distance from curve point i to (m / n, 1), exact in Python ints.
        c = int(cum[i - 1]) if i else 0
        return ((i - m) * total) ** 2 + (n * (total - c)) ** 2

    def nearest(m: int, start: int) -> int:
        # The distance is convex in i (the curve is concave), so the first point whose successor is
        # no nearer is the smallest index of the minimum: the same point as the reference's min().
        lo, hi = start, n
        while lo < hi:
            mid = (lo + hi) // 2
            if dist(mid + 1, m) >= dist(mid, m):
                hi = mid
            else:
                lo = mid + 1
        return lo

    pareto = nearest(0, 1)
    # Slope n v_i / T is nearest 1 where n v_i - T changes sign (values descend); of equal slopes the
    # reference takes the rightmost, which is the end of the group of equal values.
    desc = res._ranked
    neg = -desc
    threshold = -(-total // n)  # ceil(T / n): n v >= T exactly when v >= this
    j = int(np.searchsorted(neg, -threshold, side="right"))
    cands = []
    if j > 0:
        cands.append((abs(n * int(desc[j - 1]) - total), j))
    if j < n:
        v = int(desc[j])
        cands.append((abs(n * v - total), int(np.searchsorted(neg, -v, side="right"))))
    best = min(d for d, _ in cands)
    break_even = max(i for d, i in cands if d == best)
    ab = min(pareto, break_even)
    bc = max(nearest(max(pareto, break_even), 0), ab)

    def point(i: int) -> tuple[Decimal, Decimal]:
        return (_dec(Fraction(i, n)), _dec(Fraction(int(cum[i - 1]) if i else 0, total)))

    limits = AbcLimits(point(pareto), point(break_even), point(ab), point(bc), ab, bc - ab, n - bc)
    return ComputedAbc(res._reclassed(ab, bc), limits)
