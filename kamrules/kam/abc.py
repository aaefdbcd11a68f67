"""ABC (Pareto) classes by fixed cut-offs, in exact decimal arithmetic.

Conventions, the same here, in kamrules/kam/computed_abc.py and in kamrules/kam/concentration.py:

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

Computed ABC limits are in kamrules/kam/computed_abc.py, concentration measures in
kamrules/kam/concentration.py; both share the ranking and the exact int64 path defined here.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, InvalidOperation, getcontext, localcontext
from fractions import Fraction
from itertools import islice, repeat
from operator import itemgetter, lt
from typing import Any

import numpy as np

__all__ = ["AbcResult", "AbcRow", "abc_classes"]

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


_ZERO = Decimal(0)
_ONE = Decimal(1)


def _ranked(values: Mapping[str, Decimal]) -> list[tuple[str, Decimal]]:
    # Two stable sorts (id, then value descending) avoid building a negated Decimal per key.
    return sorted(sorted(values.items(), key=itemgetter(0)), key=itemgetter(1), reverse=True)


def _check_values(values: Mapping[str, Decimal]) -> None:
    for account, value in values.items():
        if not isinstance(value, Decimal) or not value.is_finite():
            raise TypeError(f"value for account {account!r} must be a finite Decimal, got {value!r}")


def _abc_classes_exact(values: Mapping[str, Decimal], a_cut: Decimal, b_cut: Decimal) -> list[AbcRow]:
    """The pure-Python reference: every sum a Decimal; used when the values do not fit int64."""
    _check_cuts(a_cut, b_cut)
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
    for rank, ((account, value), prev, cum) in enumerate(zip(ranked, before, cums, strict=True), start=1):
        if value <= _ZERO or total <= _ZERO:
            append(AbcRow(account, value, rank, _ZERO, _ONE if total > _ZERO else _ZERO, "C", value <= _ZERO))
            continue
        # An account belongs to the class whose line it reaches or crosses; the next one starts after.
        cls = "C" if prev >= b_line else "B" if prev >= a_line else "A"
        append(AbcRow(account, value, rank, value / total, cum / total, cls))
    return rows


def _dec(q: Fraction) -> Decimal:
    return Decimal(q.numerator) / Decimal(q.denominator)


# --- Fast exact path -------------------------------------------------------------------------
# Every value is scaled by 10**scale, where scale is the most decimal places any value has, so the
# scaled values are integers and int64 arithmetic on them is exact. Bounds are checked with Python
# ints before numpy touches them; anything that could overflow takes the Decimal reference path.

_INT64_MAX = 2**63 - 1


def abc_classes(
    values: Mapping[str, Decimal], a_cut: Decimal = Decimal("0.80"), b_cut: Decimal = Decimal("0.95")
) -> AbcResult:
    """Class every account A, B or C by fixed cumulative-share cut-offs; rows in rank order."""
    _check_cuts(a_cut, b_cut)
    scaled = _scaled(values)
    if scaled is None:
        return AbcResult._of_rows(_abc_classes_exact(values, a_cut, b_cut))
    accounts, originals, ints, scale = scaled
    return _classify(accounts, originals, ints, scale, a_cut, b_cut)


class AbcResult(Sequence[AbcRow]):
    """The rows of an ABC analysis in rank order, built only when read; compares equal to the list of them."""

    __hash__ = None  # type: ignore[assignment]  # like the list it stands for

    def __init__(
        self,
        accounts: Any,
        originals: Sequence[Decimal] | None,
        order: np.ndarray,
        ranked: np.ndarray,
        cum: np.ndarray,
        scale: int,
        n_a: int,
        n_ab: int,
        ctx: Context,
    ) -> None:
        """Keep the ranking arrays; rows are made from them on demand."""
        self._accounts, self._originals, self._order, self._ranked = accounts, originals, order, ranked
        self._cum, self._scale, self._n_a, self._n_ab, self._ctx = cum, scale, n_a, n_ab, ctx
        self._total = int(cum[-1]) if len(cum) else 0
        self._rows: list[AbcRow] | None = None

    @classmethod
    def _of_rows(cls, rows: list[AbcRow]) -> AbcResult:
        empty = np.zeros(0, dtype=np.int64)
        res = cls([], None, empty, empty, empty, 0, 0, 0, getcontext())
        res._rows = rows
        return res

    def _reclassed(self, n_a: int, n_ab: int) -> AbcResult:
        return AbcResult(
            self._accounts, self._originals, self._order, self._ranked, self._cum, self._scale, n_a, n_ab, self._ctx
        )

    def __len__(self) -> int:
        return len(self._rows) if self._rows is not None else len(self._order)

    def __getitem__(self, i: Any) -> Any:
        if self._rows is not None:
            return self._rows[i]
        if isinstance(i, slice):
            return [self._row(k) for k in range(*i.indices(len(self)))]
        n = len(self)
        k = i + n if i < 0 else i
        if not 0 <= k < n:
            raise IndexError("AbcResult index out of range")
        return self._row(k)

    def __iter__(self) -> Iterator[AbcRow]:
        return iter(self.rows())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (list, AbcResult)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __repr__(self) -> str:
        return f"AbcResult({len(self)} rows, {self.counts()})"

    def counts(self) -> dict[str, int]:
        """Accounts per class, without building the rows."""
        if self._rows is not None:
            return {c: sum(1 for r in self._rows if r.cls == c) for c in "ABC"}
        return {"A": self._n_a, "B": self._n_ab - self._n_a, "C": len(self) - self._n_ab}

    def classes(self) -> dict[str, str]:
        """Each account's class, in rank order, without building the rows."""
        if self._rows is not None:
            return {r.account: r.cls for r in self._rows}
        accounts = self._account_list()
        n = len(self)
        cls = ["A"] * self._n_a + ["B"] * (self._n_ab - self._n_a) + ["C"] * (n - self._n_ab)
        return dict(zip([accounts[k] for k in self._order.tolist()], cls, strict=True))

    def rows(self) -> list[AbcRow]:
        """Every row as an AbcRow, built once and kept."""
        if self._rows is None:
            # A million new objects would set off repeated full collections that find nothing to free.
            enabled = gc.isenabled()
            gc.disable()
            try:
                self._rows = self._build()
            finally:
                if enabled:
                    gc.enable()
        return self._rows

    def text_columns(self) -> dict[str, list[str]]:
        """Every row's account, value, share, cumulative share and class as text, in rank order, without rows."""
        if self._rows is not None:
            rows = self._rows
            return {
                "account": [r.account for r in rows],
                "value": [str(r.value) for r in rows],
                "share": [str(r.share) for r in rows],
                "cumulative_share": [str(r.cumulative_share) for r in rows],
                "class": [r.cls for r in rows],
            }
        accounts, n, npos = self._account_list(), len(self._order), len(self._cum)
        order = self._order.tolist()
        if self._originals is None:
            values = [str(Decimal(u).scaleb(-self._scale)) for u in self._ranked.tolist()]
        else:
            text = getattr(self._originals, "text", None)  # numbers kept as written print without a Decimal each
            values = text(order) if text else list(map(str, map(self._originals.__getitem__, order)))
        div, t = self._ctx.divide, Decimal(self._total)
        last = "1" if self._total > 0 else "0"
        shares = list(map(str, map(div, map(Decimal, self._ranked[:npos].tolist()), repeat(t))))
        cums = list(map(str, map(div, map(Decimal, self._cum.tolist()), repeat(t))))
        return {
            "account": list(map(str, map(accounts.__getitem__, order))),
            "value": values,
            "share": shares + ["0"] * (n - npos),
            "cumulative_share": cums + [last] * (n - npos),
            "class": ["A"] * self._n_a + ["B"] * (self._n_ab - self._n_a) + ["C"] * (n - self._n_ab),
        }

    def _account_list(self) -> Any:
        acc = self._accounts  # a list, a numpy array or a polars column (abc_frame.py)
        return acc if isinstance(acc, list) else acc.tolist() if isinstance(acc, np.ndarray) else acc.to_list()

    def _row(self, k: int) -> AbcRow:
        acc = self._accounts[int(self._order[k])]
        return self._make(
            k,
            acc if type(acc) is str else str(acc),
            int(self._order[k]),
            int(self._ranked[k]),
            int(self._cum[k]) if k < len(self._cum) else 0,
        )

    def _make(self, k: int, account: str, idx: int, units: int, cum: int) -> AbcRow:
        value = self._originals[idx] if self._originals is not None else Decimal(units).scaleb(-self._scale)
        total = self._total
        if k >= len(self._cum):
            return AbcRow(account, value, k + 1, _ZERO, _ONE if total > 0 else _ZERO, "C", True)
        # Decimal(units) / Decimal(total) is the same quotient as value / total, rounded alike.
        cls = "A" if k < self._n_a else "B" if k < self._n_ab else "C"
        div, t = self._ctx.divide, Decimal(total)
        return AbcRow(account, value, k + 1, div(Decimal(units), t), div(Decimal(cum), t), cls)

    def _build(self) -> list[AbcRow]:
        accounts, originals, order = self._account_list(), self._originals, self._order.tolist()
        npos, n, total = len(self._cum), len(order), self._total
        if originals is None:
            originals = [Decimal(u).scaleb(-self._scale) for u in self._ranked.tolist()]
            order_v = range(n)
        else:
            order_v = order
        div, t = self._ctx.divide, Decimal(total)
        cls = ["A"] * self._n_a + ["B"] * (self._n_ab - self._n_a) + ["C"] * (npos - self._n_ab)
        # zip stops at the positives (cum and cls have npos entries); the rest follow below.
        rows = [
            AbcRow(str(accounts[i]), originals[j], k, div(Decimal(u), t), div(Decimal(c), t), c_)
            for k, i, j, u, c, c_ in zip(
                range(1, npos + 1), order, order_v, self._ranked.tolist(), self._cum.tolist(), cls, strict=False
            )
        ]
        last = _ONE if total > 0 else _ZERO
        rows += [
            AbcRow(str(accounts[i]), originals[j], k, _ZERO, last, "C", True)
            for k, i, j in zip(range(npos + 1, n + 1), order[npos:], order_v[npos:], strict=True)
        ]
        return rows


def _check_cuts(a_cut: Decimal, b_cut: Decimal) -> None:
    if not (Decimal(0) < a_cut <= b_cut <= Decimal(1)):
        raise ValueError(f"cut-offs must satisfy 0 < a_cut <= b_cut <= 1, got {a_cut} and {b_cut}")


def _exact_context() -> Context:
    # The reference path's context: the caller's, with room for any sum of money and rounding trapped.
    ctx = getcontext().copy()
    ctx.prec = _PREC
    ctx.traps[Inexact] = True
    return ctx


def _fits(lo: int, hi: int, n: int) -> bool:
    # Sums of up to n values, and the sort key -v * n + position, stay inside int64; n < 2**31 keeps
    # the 16-bit limb sums in _dot exact.
    return n < 2**31 and (max(abs(lo), abs(hi)) + 1) * (n + 1) <= _INT64_MAX


def _scaled(values: Mapping[str, Decimal]) -> tuple[list[str], list[Decimal], np.ndarray, int] | None:
    """Accounts, values and the values as exact int64 multiples of 10**-scale; None when they do not fit."""
    vals = list(values.values())
    if not vals:
        return None
    if set(map(type, vals)) != {Decimal}:
        _check_values(values)  # names the offending account; Decimal subclasses pass
    try:
        with localcontext(_exact_context()):
            # Exact Decimal addition keeps the smallest exponent, so the sum says how many places to scale by.
            total = sum(vals, _ZERO)
            if not total.is_finite():
                raise InvalidOperation
            scale = max(0, -int(total.as_tuple().exponent))
            if scale > 18:
                return None
            ints = np.fromiter(
                map(int, map(Decimal.scaleb, vals, repeat(scale))) if scale else map(int, vals),
                dtype=np.int64,
                count=len(vals),
            )
    except InvalidOperation:
        _check_values(values)  # a NaN or infinity: the same TypeError as the reference path
        return None
    except (Inexact, OverflowError):
        return None
    if not _fits(int(ints.min()), int(ints.max()), len(ints)):
        return None
    return list(values), vals, ints, scale


def _positions(ids: Any) -> np.ndarray:
    """Each account's place in account-id order."""
    n = len(ids)
    if isinstance(ids, np.ndarray):
        if n < 2 or bool((ids[1:] > ids[:-1]).all()):
            return np.arange(n, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        srt = ids[order]
        unique = bool((srt[1:] > srt[:-1]).all())
    else:
        # Tables usually come sorted by account, and one pass of comparisons proves it.
        if all(map(lt, ids, islice(ids, 1, None))):
            return np.arange(n, dtype=np.int64)
        arr = np.array(ids)
        order = np.argsort(arr, kind="stable")
        srt = arr[order]
        # numpy strings drop trailing NULs, so equal neighbours may be distinct ids: let Python decide then.
        if arr.dtype.kind != "U" or not bool((srt[1:] > srt[:-1]).all()):
            order_list = sorted(range(n), key=ids.__getitem__)
            srt_ids = [ids[k] for k in order_list]
            if not all(map(lt, srt_ids, islice(srt_ids, 1, None))):
                raise ValueError("account ids must be unique")
            order = np.array(order_list, dtype=np.int64)
        unique = True
    if not unique:
        raise ValueError("account ids must be unique")
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n, dtype=np.int64)
    return pos


def _classify(
    accounts: Any,
    originals: Sequence[Decimal] | None,
    ints: np.ndarray,
    scale: int,
    a_cut: Decimal,
    b_cut: Decimal,
    positions: np.ndarray | None = None,
) -> AbcResult:
    """Rank and class int64 values (already checked by _fits) exactly; ``positions``: each id's place in id order."""
    _ = a_cut * _ONE, b_cut * _ONE  # the reference path multiplies the cut-offs by a Decimal: same TypeErrors
    n, pos = len(ints), _positions(accounts) if positions is None else positions
    # Value descending, id ascending, as one int64 key; keys are unique, so the fast unstable sort is exact.
    order = np.argsort(-ints * n + pos) if n else np.zeros(0, dtype=np.int64)
    ranked = ints[order]
    npos = int(np.count_nonzero(ranked > 0))  # positives come first
    cum = np.cumsum(ranked[:npos])
    total = int(cum[-1]) if npos else 0
    n_a = n_ab = 0
    if total > 0:
        # An account is A while the sum before it is below a_cut * T, i.e. below ceil(a_cut * T) in integers.
        before = cum - ranked[:npos]
        fa, fb = Fraction(a_cut), Fraction(b_cut)
        n_a = int(np.searchsorted(before, -((-fa.numerator * total) // fa.denominator), side="left"))
        n_ab = int(np.searchsorted(before, -((-fb.numerator * total) // fb.denominator), side="left"))
    return AbcResult(accounts, originals, order, ranked, cum, scale, n_a, n_ab, getcontext().copy())
