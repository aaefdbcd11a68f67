"""The one wording of values and conditions that every command uses (evaluate, explain, audit, portfolio)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from typing import Any

from kamrules.lang.expr import Num, Ref, parse, unparse
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


def threshold(op: str, value: Any, value_of: str | None = None, times: Any = None, plus: Any = None) -> str:
    """What a comparison compares with: a constant, or another fact (× times + plus) with its value here."""
    if not OPS[op].takes_value:
        return ""
    if value_of:
        other = scaled(value_of, times, plus)
        return f"{other} ({fmt(value)})" if value is not None else other
    return fmt(value)


def comparison(
    fact: str, op: str, value: Any = None, value_of: str | None = None, times: Any = None, plus: Any = None
) -> str:
    """One comparison in words: 'trust_index ≥ 3', 'revenue < revenue_prev_12m × 0.85', 'sponsor exists'."""
    if not OPS[op].takes_value:
        return f"{fact} {OPS[op].symbol}"
    return f"{fact} {OPS[op].symbol} {scaled(value_of, times, plus) if value_of else fmt(value)}"


def scaled(value_of: str, times: Any = None, plus: Any = None) -> str:
    """Another fact as a comparison reads it: 'revenue_prev_12m × 0.85 + 1,000'."""
    text = value_of + (f" × {fmt(times)}" if times is not None else "")
    if plus is not None:
        text += f" + {fmt(plus)}" if plus >= 0 else f" − {fmt(-plus)}"
    return text


def short(value: Any) -> str:
    """A computed value: three significant digits below 1,000 (0.0507), else as fmt writes it."""
    if isinstance(value, float) and abs(value) < 1000:
        return f"{value:.3g}"
    return fmt(value)


_WHY_MISSING = {
    "missing": "{} is missing",
    "zero": "{} is 0",
    "not-finite": "{} is too large to compute",
    "range": "its value {} is outside its declared range",
}


def computation_text(c: Any) -> str:
    """A computed fact with its arithmetic: 'margin_rate = margin / revenue = 41,200 / 812,000 = 0.0507'.

    Or why it has no value: 'margin_rate is missing: revenue is 0'. Takes a Computation or its JSON form.
    """
    if isinstance(c, Mapping):
        fact, text, value, inputs = c["fact"], c["expression"], c["value"], dict(c["inputs"])
        why = (c["missing"]["reason"], c["missing"]["of"]) if c.get("missing") else None
    else:
        fact, text, value, inputs, why = c.fact, unparse(c.expression), c.value, dict(c.inputs), c.why
    if why is not None:
        kind, subject = why
        if kind == "range":
            subject = short(float(subject))
        return f"{fact} is missing: " + _WHY_MISSING.get(kind, "{}").format(subject)
    expr = parse(text)

    def value_of(e: Num | Ref) -> str:
        if isinstance(e, Num):
            return str(e.value).lower() if isinstance(e.value, bool) else fmt(e.value)
        return fmt(inputs[e.name]) if e.name in inputs else e.name

    with_values = unparse(expr, value_of)
    steps = [fact, text] + ([with_values] if with_values != text else [])
    return " = ".join([*steps, short(value)])


def computed_comparison(c: Any, op: str, value: Any, value_of: str | None = None) -> str:
    """A comparison on a computed fact with its arithmetic: '... = 0.0507 > 0.05'."""
    threshold_text = value_of if value_of else fmt(value)
    return f"{computation_text(c)} {OPS[op].symbol} {threshold_text}" if OPS[op].takes_value else computation_text(c)


def condition_text(cond: Condition) -> str:
    """A condition tree in one line, for listings."""
    if isinstance(cond, AllOf):
        return " and ".join(_paren(c) for c in cond.children)
    if isinstance(cond, AnyOf):
        return " or ".join(_paren(c) for c in cond.children)
    if isinstance(cond, Not):
        return "not " + _paren(cond.child)
    return comparison(cond.fact, cond.op, cond.value, cond.value_of, cond.times, cond.plus)


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
        f"{comparison(_get(c, 'fact'), _get(c, 'op'), _get(c, 'value'), _get(c, 'value_of'), *_arith(c))}"
        f" (observed {fmt(_get(c, 'observed'))}{holds})"
    )


def _arith(c: Any) -> tuple[Any, Any]:
    """A recorded comparison's times and plus (older records have neither)."""
    if isinstance(c, Mapping):
        return c.get("times"), c.get("plus")
    return c.times, c.plus


def trace_rows(conditions: Iterable[Any]) -> list[list[str]]:
    """Evaluated comparisons as table rows under TRACE_HEADERS."""
    return [
        [
            _get(c, "path"),
            _get(c, "fact"),
            OPS[_get(c, "op")].symbol,
            threshold(_get(c, "op"), _get(c, "value"), _get(c, "value_of"), *_arith(c)),
            fmt(_get(c, "observed")),
            "✓" if _get(c, "holds") else "✗",
        ]
        for c in conditions
    ]


_ORIGINS = {
    "option": "--rules",
    "current folder": "./rules in the current folder",
    "environment": "from $KAMRULES_RULES",
    "shipped": "the defaults shipped with kamrules; `kamrules init` copies them to tune",
}


def rules_source_text(source: Any) -> str:
    """Where the rules came from (a RulesSource): 'rules: rules (./rules in the current folder)'."""
    return f"rules: {source.path} ({_ORIGINS.get(source.origin, source.origin)})"


def written_text(path: str) -> str:
    """What a command says on stderr when it wrote its output to a file."""
    return f"wrote {path} ({os.path.getsize(path):,} bytes)"


def initialised_text(directory: str, files: list[str]) -> str:
    """What `kamrules init` says: the files it wrote, and how they are used."""
    here = directory.rstrip("/") == "rules"
    used = "kamrules uses it when run from this folder" if here else "pass --rules " + directory
    return f"wrote the default rules to {directory}/ ({', '.join(files)}); {used}"
