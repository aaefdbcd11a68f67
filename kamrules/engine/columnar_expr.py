"""Conditions and computed facts as polars expressions: the columnar form of engine/reference.py and compute.py.

A missing fact is a null. A comparison on a null is false (never null), so `not`, `all` and `any` need
no three-valued logic; a computed value that compute.py leaves missing (a missing input, a division by
zero, a result that is not finite or beyond the fact's range) is null.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from kamrules.lang.expr import AS_OF, COMPARE, Bin, Call, Expr, Neg, Num, Ref
from kamrules.lang.model import AllOf, AnyOf, Condition, Fact, Leaf, Not
from kamrules.lang.ops import OPS
from kamrules.lang.values import round_half_away

DTYPES: dict[str, pl.DataType] = {
    "number": pl.Float64(),
    "integer": pl.Int64(),
    "boolean": pl.Boolean(),
    "string": pl.String(),
    "enum": pl.String(),
    "date": pl.Date(),
}
"""The column type of each fact type (the types the engine compares)."""


class _Logic:
    """The registry's solver forms (lang/ops.py) over polars expressions: one definition of each operator."""

    def any(self, terms: Sequence[Any]) -> Any:
        """At least one term holds."""
        return pl.any_horizontal(*terms)

    def all(self, terms: Sequence[Any]) -> Any:
        """Every term holds."""
        return pl.all_horizontal(*terms)

    def no(self, term: Any) -> Any:
        """The term does not hold."""
        return ~term


_LOGIC = _Logic()


def condition_expr(cond: Condition, facts: dict[str, Fact]) -> pl.Expr:
    """A boolean, never-null column: whether the condition holds on each row (reference.holds)."""
    if isinstance(cond, AllOf):
        return pl.all_horizontal(*(condition_expr(c, facts) for c in cond.children))
    if isinstance(cond, AnyOf):
        return pl.any_horizontal(*(condition_expr(c, facts) for c in cond.children))
    if isinstance(cond, Not):
        return ~condition_expr(cond.child, facts)
    return leaf_expr(cond, facts)


def leaf_expr(leaf: Leaf, facts: dict[str, Fact]) -> pl.Expr:
    """One comparison (reference.leaf_holds): false when the fact or the other fact is missing."""
    op = OPS[leaf.op]
    left = pl.col(leaf.fact)
    if not op.takes_value:
        return op.solver(left.is_not_null(), None, _LOGIC)  # type: ignore[no-any-return]
    if leaf.value_of is not None:
        right: Any = _scaled(pl.col(leaf.value_of), leaf, facts[leaf.value_of].type)
    elif op.operand == "scalar":
        right = _literal(leaf.value, facts[leaf.fact])
    else:
        right = [_literal(v, facts[leaf.fact]) for v in leaf.value]
    held: pl.Expr = op.solver(left, right, _LOGIC)
    return held.fill_null(False)


def _literal(value: Any, fact: Fact) -> pl.Expr:
    # Numbers keep their own type (an integer threshold on a number fact compares exactly, as in Python).
    if isinstance(value, (bool, dt.date, str)):
        return pl.lit(value, dtype=DTYPES[fact.type])
    return pl.lit(value)


def _scaled(right: pl.Expr, leaf: Leaf, fact_type: str) -> pl.Expr:
    """value_of × times + plus (plus counts days on a date), as reference._scaled."""
    if leaf.times is not None:
        right = right * float(leaf.times)
    if leaf.plus is not None:
        if fact_type == "date":
            right = (right.cast(pl.Int32()) + int(leaf.plus)).cast(pl.Date())
        else:
            right = right + leaf.plus
    return right


def computed_expr(fact: Fact, as_of: dt.date) -> pl.Expr:
    """The column of a computed fact: compute.py's value, null where compute.py leaves it missing."""
    assert fact.computed is not None
    value = value_expr(fact.computed, as_of)
    if fact.type in ("number", "integer"):
        if fact.range is not None:
            lo, hi = fact.range
            value = pl.when((value >= lo) & (value <= hi)).then(value)
        if fact.type == "integer":  # int(): towards zero, as Python's int of a float
            value = value.cast(pl.Int64(), strict=False)
    return value.alias(fact.name)


def value_expr(e: Expr, as_of: dt.date) -> pl.Expr:
    """An expression's column (compute.evaluate_expr), null where it has no value."""
    if isinstance(e, Num):
        return pl.lit(e.value)
    if isinstance(e, Ref):
        return pl.lit(as_of, dtype=pl.Date()) if e.name == AS_OF else pl.col(e.name)
    if isinstance(e, Neg):
        return -value_expr(e.operand, as_of)
    if isinstance(e, Bin):
        return _binary(e, as_of)
    return _call(e, as_of)


def _finite(x: pl.Expr) -> pl.Expr:
    # compute._finite: an infinite or NaN float result has no value; whole numbers are always finite.
    return pl.when(x.is_finite()).then(x)


def _binary(e: Bin, as_of: dt.date) -> pl.Expr:
    a, b = value_expr(e.left, as_of), value_expr(e.right, as_of)
    op = e.op
    if op == "+":
        return _finite(a + b)
    if op == "-":
        return _finite(a - b)
    if op == "*":
        return _finite(a * b)
    if op == "/":
        return pl.when(b != 0).then(_finite(divide(a, b)))
    compared: pl.Expr = COMPARE[op](a, b)
    return compared


def divide(a: pl.Expr, b: pl.Expr | float) -> pl.Expr:
    """a / b as Python divides: polars multiplies by the reciprocal of a constant divisor, which is not."""
    # b + a * 0 is b as a column (a NaN or null where a is, where the quotient is no value anyway).
    return a / (b + a * 0)


def _call(e: Call, as_of: dt.date) -> pl.Expr:
    args = [value_expr(a, as_of) for a in e.args]
    f = e.func
    if f == "if":  # a null condition has no value; the branch not taken does not matter
        return pl.when(args[0].is_null()).then(None).when(args[0]).then(args[1]).otherwise(args[2])
    if f in ("min", "max"):  # Python's min/max: any missing argument leaves the result missing
        m = pl.min_horizontal(*args) if f == "min" else pl.max_horizontal(*args)
        return pl.when(pl.all_horizontal(*(a.is_not_null() for a in args))).then(m)
    if f == "abs":
        return args[0].abs()
    if f == "round":
        places = e.args[1].value if len(e.args) == 2 and isinstance(e.args[1], Num) else None
        return args[0].map_batches(lambda s: round_series(s, None if places is None else int(places)))
    if f == "days_between":
        return args[1].cast(pl.Int64()) - args[0].cast(pl.Int64())
    return months_between_expr(args[0], args[1])


def months_between_expr(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """lang/values.months_between on columns: whole months with the clamped anniversary, negative backwards."""
    lo = pl.when(b < a).then(b).otherwise(a)
    hi = pl.when(b < a).then(a).otherwise(b)
    months = (hi.dt.year().cast(pl.Int64()) - lo.dt.year()) * 12 + hi.dt.month().cast(pl.Int64()) - lo.dt.month()
    last_day = hi.dt.month_end().dt.day()
    anniversary = pl.min_horizontal(lo.dt.day(), last_day)
    whole = pl.when(hi.dt.day() < anniversary).then(months - 1).otherwise(months)
    return pl.when(a.is_null() | b.is_null()).then(None).when(b < a).then(-whole).otherwise(whole)


def round_series(s: pl.Series, places: int | None, exact: Callable[[float, Any], Any] | None = None) -> pl.Series:
    """``exact`` (round_half_away, or Python's round) on a column: vectorised where floats are far from a tie."""
    import numpy as np  # polars hands numpy the column's buffer

    if s.dtype.is_integer() or s.dtype == pl.Boolean():
        return s  # round_half_away returns a whole number unchanged
    x = s.cast(pl.Float64()).to_numpy()
    scale = 10.0 ** (places or 0)
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.abs(x) * scale
        frac = y - np.floor(y)
        # Far from .5 and small enough that the scaled float is exact to well under the distance to a tie.
        safe = (np.abs(frac - 0.5) > 1e-6) & (y < 1e12)
        fast = np.sign(x) * np.floor(y + 0.5) / scale
    valid = np.isfinite(x)
    for i in np.flatnonzero(~safe).tolist():  # NaN stands for "no value" until the end
        fast[i] = float((exact or round_half_away)(float(x[i]), places)) if valid[i] else np.nan
    out = pl.Series(s.name, fast, dtype=pl.Float64()).fill_nan(None)
    return out.cast(pl.Int64(), strict=False) if places is None else out
