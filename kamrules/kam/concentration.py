"""Concentration measures of a total across accounts: top-20% share, Gini, HHI, in exact arithmetic."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from kamrules.kam.abc import _check_values, _dec, _scaled

__all__ = ["Concentration", "concentration", "concentration_of_units"]


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: Decimals as exact strings."""
        return {
            "accounts": self.accounts,
            "positive_accounts": self.positive_accounts,
            "total": str(self.total),
            "top20_accounts": self.top20_accounts,
            "top20_share": _text(self.top20_share),
            "gini": _text(self.gini),
            "hhi": _text(self.hhi),
        }


def _text(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def _concentration_exact(values: Mapping[str, Decimal]) -> Concentration:
    """The pure-Python reference for concentration, in Fractions; used when the values do not fit int64."""
    _check_values(values)
    n = len(values)
    xs = sorted(Fraction(max(v, Decimal(0))) for v in values.values())
    total = sum(xs, Fraction(0))
    positive = sum(1 for x in xs if x > 0)
    top_k = math.ceil(n / 5) if n else 0
    if total <= 0:
        return Concentration(n, positive, _dec(total), top_k, None, None, None)
    top = sum(xs[n - top_k :], Fraction(0)) / total
    gini = sum(((2 * i - n - 1) * x for i, x in enumerate(xs, start=1)), Fraction(0)) / (n * total)
    hhi = sum(((x / total) ** 2 for x in xs), Fraction(0))
    return Concentration(n, positive, _dec(total), top_k, _dec(top), _dec(gini), _dec(hhi))


def concentration(values: Mapping[str, Decimal]) -> Concentration:
    """Top-20% share, Gini coefficient and Herfindahl-Hirschman index; values <= 0 count as 0.

    Top 20% means the first ceil(n / 5) accounts in rank order (at least one). Gini is
    sum((2i - n - 1) x_i) / (n sum x) over the n values in ascending order, 0 when all are
    equal and (n - 1) / n when one account has everything. HHI is the sum of squared shares,
    from 1/n to 1 (multiply by 10,000 for the antitrust points scale).
    """
    scaled = _scaled(values)
    if scaled is None:
        return _concentration_exact(values)
    return concentration_of_units(scaled[2], scaled[3])


def concentration_of_units(ints: np.ndarray, scale: int) -> Concentration:
    """`concentration` of exact int64 multiples of 10**-scale whose n * max fits int64 (abc._fits)."""
    n = len(ints)
    xs = np.sort(np.maximum(ints, 0))
    total = int(xs.sum())
    positive = int(np.count_nonzero(xs))
    top_k = -(-n // 5)
    if total <= 0:
        return Concentration(n, positive, _dec(Fraction(0)), top_k, None, None, None)
    top = Fraction(int(xs[n - top_k :].sum()), total)
    gini = Fraction(2 * _dot(np.arange(1, n + 1, dtype=np.int64), xs) - (n + 1) * total, n * total)
    hhi = Fraction(_dot(xs, xs), total * total)
    return Concentration(n, positive, _dec(Fraction(total, 10**scale)), top_k, _dec(top), _dec(gini), _dec(hhi))


def _dot(x: np.ndarray, y: np.ndarray) -> int:
    """Exact sum of x * y over nonnegative int64 arrays shorter than 2**31."""

    # 16-bit limbs: each product is below 2**32, so each of the limb sums stays inside int64.
    def limbs(a: np.ndarray) -> list[np.ndarray]:
        out = []
        while True:
            out.append(a & 0xFFFF)
            a = a >> 16
            if not a.any():
                return out

    xl, yl = limbs(x), limbs(y)
    return sum(int((p * q).sum()) << (16 * (i + j)) for i, p in enumerate(xl) for j, q in enumerate(yl))
