"""The problem collector and the checks of a value against its fact's declaration, shared by every loader."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable
from typing import Any

from kamrules.errors import Problem, Span
from kamrules.lang.expr import did_you_mean as did_you_mean  # the one hint, for every loader
from kamrules.lang.model import Fact, is_date
from kamrules.lang.source import YNode, describe_value

_KIND_WORDS = {"map": "a mapping", "seq": "a list", "scalar": "a single value"}


def fact_hint(name: str, facts: dict[str, Fact]) -> str:
    """Where an unknown fact should have come from, with a did-you-mean."""
    hint = did_you_mean(name, facts)
    return f"{hint} (facts are declared in facts.yaml)" if hint else "declare it in facts.yaml first"


class Problems(list[Problem]):
    """Gathers problems so that one run reports all of them."""

    # Facts declared in facts.yaml but rejected there: rules using them get no second error.
    rejected_facts: frozenset[str] = frozenset()

    def unknown_fact(self, span: Span, name: str, what: str, facts: dict[str, Fact]) -> None:
        """Record an unknown fact with a did-you-mean, unless its declaration was already reported."""
        if name not in self.rejected_facts:
            self.add(span, f"unknown fact '{name}' in {what}", code="unknown-fact", help=fact_hint(name, facts))

    def add(self, span: Span, message: str, **kw: Any) -> None:
        """Record one problem."""
        self.append(Problem(span, message, **kw))

    def needs(self, node: YNode, subject: str, keys: Iterable[str], expected: str, code: str = "missing-key") -> None:
        """Record that a mapping lacks required keys: '<subject> needs 'a' and 'b'', found the keys it has."""
        found = "keys " + ", ".join(sorted(node.value)) if node.value else "an empty mapping"
        wanted = " and ".join(f"'{k}'" for k in keys)
        self.add(node.span, f"{subject} needs {wanted}", expected=expected, found=found, code=code)

    def bad_value(self, span: Span, message: str, expected: str, found: str, **kw: Any) -> None:
        """Record a value that is of the right kind but not acceptable (a count, a sum, an order)."""
        self.add(span, message, expected=expected, found=found, code="bad-value", **kw)

    def bad(self, node: YNode, message: str, expected: str, code: str = "invalid", **kw: Any) -> None:
        """Record a problem with a node's value: at the node, found what the node holds."""
        self.append(Problem(node.span, message, expected=expected, found=node.describe(), code=code, **kw))

    def unknown_keys(
        self,
        node: YNode,
        allowed: Collection[str],
        what: str,
        message: str = "unknown key '{key}' in {what}",
        expected: str | None = None,
        suggest: Iterable[str] = (),
    ) -> None:
        """Record every key of a mapping that is not allowed, with a did-you-mean."""
        choices = set(allowed) | set(suggest)
        for key, kspan in node.key_spans.items():
            if key not in allowed:
                self.add(
                    kspan,
                    message.format(key=key, what=what),
                    expected=expected or "one of " + ", ".join(sorted(allowed)),
                    found=f"'{key}'",
                    help=did_you_mean(key, choices),
                    code="unknown-key",
                )

    def expect_kind(self, node: YNode, kind: str, what: str) -> bool:
        """True when the node is a mapping / list / scalar as required; records a problem otherwise."""
        if node.kind == kind:
            return True
        wanted = _KIND_WORDS[kind]
        self.add(node.span, f"{what} must be {wanted}", expected=wanted, found=node.describe(), code="wrong-type")
        return False


def type_label(fact: Fact) -> str:
    """The expected type of a fact's value, in words."""
    if fact.type == "enum":
        return "one of " + ", ".join(fact.values or ())
    if fact.type in ("number", "integer") and fact.range:
        lo, hi = fact.range
        return f"{'an integer' if fact.type == 'integer' else 'a number'} from {_num(lo)} to {_num(hi)}"
    return {
        "number": "a number",
        "integer": "an integer",
        "boolean": "true or false",
        "string": "text",
        "date": "a date (YYYY-MM-DD)",
    }[fact.type]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _check_number(fact: Fact, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "wrong type"
    if isinstance(value, float) and not math.isfinite(value):
        return "not a finite number"
    if fact.type == "integer" and not isinstance(value, int):
        return "wrong type"
    if fact.range and not (fact.range[0] <= value <= fact.range[1]):
        return "out of range"
    return None


def _check_enum(fact: Fact, value: Any) -> str | None:
    if not isinstance(value, str):
        return "wrong type"
    return None if value in (fact.values or ()) else "not an allowed value"


_CHECKS: dict[str, Callable[[Fact, Any], str | None]] = {
    "number": _check_number,
    "integer": _check_number,
    "boolean": lambda _f, v: None if isinstance(v, bool) else "wrong type",
    "string": lambda _f, v: None if isinstance(v, str) else "wrong type",
    "enum": _check_enum,
    "date": lambda _f, v: None if is_date(v) else "wrong type",
}


def check_value(fact: Fact, value: Any) -> str | None:
    """Why ``value`` is not a valid value of ``fact``, or None when it is."""
    if value is None:
        return "no value"
    check = _CHECKS.get(fact.type)
    return check(fact, value) if check else "unknown type"


def _value_hint(fact: Fact, value: Any) -> str | None:
    """What the person probably meant, for the common slips of a value written as text."""
    if not isinstance(value, str):
        return None
    hint = None
    if fact.type == "enum":
        hint = did_you_mean(value, fact.values or ())
    if fact.type == "number" and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value):
        hint = "YAML reads 1e6 as text; write 1.0e6 or 1000000"
    if fact.type == "boolean" and value.lower() in ("yes", "no", "on", "off", "y", "n"):
        hint = "write true or false"
    if fact.type in ("number", "integer") and "," in value:
        hint = "write numbers with a '.' decimal point and no thousands separator"
    return hint


def value_problem(fact: Fact, value: Any, span: Span, context: str) -> Problem | None:
    """A Problem for an invalid value of a fact, naming what was expected and found."""
    why = check_value(fact, value)
    if why is None:
        return None
    return Problem(
        span,
        f"{context}: invalid value for fact '{fact.name}' ({why})",
        expected=type_label(fact),
        found=describe_value(value),
        help=_value_hint(fact, value),
        code="bad-value",
    )


def node_value(node: YNode) -> Any:
    """A node's value as checked against a fact: the scalar itself, or the plain data of a mapping or list."""
    return node.value if node.kind == "scalar" else node.plain()
