"""The one wording of values and conditions that every command uses (evaluate, explain, audit, portfolio)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from kamrules.lang.model import AllOf, AnyOf, Condition, Leaf, Not
from kamrules.lang.ops import OPS

TRACE_HEADERS = ["where", "fact", "op", "threshold", "observed", "holds"]


def fmt(value: Any) -> str:
    """A value as a person reads it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) >= 1000 else f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)


def percent(share: Any, places: int = 1) -> str:
    """A share (0..1, float or Decimal) as a percentage: '12.5%'."""
    return f"{float(share):.{places}%}"


def fixed(value: Any, places: int) -> str:
    """A number with a fixed count of decimals: '0.25'."""
    return f"{float(value):.{places}f}"


def threshold(op: str, value: Any, value_of: str | None = None) -> str:
    """What a comparison compares with: a constant, or another fact with its value on this account."""
    if not OPS[op].takes_value:
        return ""
    if value_of:
        return f"{value_of} ({fmt(value)})" if value is not None else value_of
    return fmt(value)


def comparison(fact: str, op: str, value: Any = None, value_of: str | None = None) -> str:
    """One comparison in words: 'trust_index ≥ 3', 'stage in [early-KAM, mid-KAM]', 'sponsor exists'."""
    if not OPS[op].takes_value:
        return f"{fact} {OPS[op].symbol}"
    return f"{fact} {OPS[op].symbol} {value_of if value_of else fmt(value)}"


def condition_text(cond: Condition) -> str:
    """A condition tree in one line, for listings."""
    if isinstance(cond, AllOf):
        return " and ".join(_paren(c) for c in cond.children)
    if isinstance(cond, AnyOf):
        return " or ".join(_paren(c) for c in cond.children)
    if isinstance(cond, Not):
        return "not " + _paren(cond.child)
    return comparison(cond.fact, cond.op, cond.value, cond.value_of)


def _paren(c: Condition) -> str:
    text = condition_text(c)
    return text if isinstance(c, Leaf) else f"({text})"


def _get(c: Any, name: str) -> Any:
    """A field of a condition trace, whether a trace object or its recorded (JSON) form."""
    return c.get(name) if isinstance(c, Mapping) else getattr(c, name)


def trace_text(c: Any, verdict: bool = False) -> str:
    """One evaluated comparison in a sentence: 'trust_index ≥ 3 (observed 2.5)', with ': does not hold' if verdict."""
    holds = (": holds" if _get(c, "holds") else ": does not hold") if verdict else ""
    return (
        f"{comparison(_get(c, 'fact'), _get(c, 'op'), _get(c, 'value'), _get(c, 'value_of'))}"
        f" (observed {fmt(_get(c, 'observed'))}{holds})"
    )


def trace_rows(conditions: Iterable[Any]) -> list[list[str]]:
    """Evaluated comparisons as table rows under TRACE_HEADERS."""
    return [
        [
            _get(c, "path"),
            _get(c, "fact"),
            OPS[_get(c, "op")].symbol,
            threshold(_get(c, "op"), _get(c, "value"), _get(c, "value_of")),
            fmt(_get(c, "observed")),
            "✓" if _get(c, "holds") else "✗",
        ]
        for c in conditions
    ]
