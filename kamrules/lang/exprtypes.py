"""Types and units of expressions, checked when the facts are loaded, so a bad formula fails before any data.

A number carries a unit: the product of the declared units of the facts it is made of, each to a power
(EUR / EUR is a ratio, without unit; EUR * EUR is EUR²). Numbers written in the expression take the unit
of what they meet (``revenue * 0.85`` is EUR, ``revenue + 5`` too). Facts declared without a unit, or
in ``fraction``, ``ratio``, ``share`` or ``percent``, are numbers without unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kamrules.lang.expr import AS_OF, Bin, Call, Expr, ExprError, Neg, Num, Ref, unparse
from kamrules.lang.model import Fact
from kamrules.lang.problems import did_you_mean

Unit = tuple[tuple[str, int], ...]
"""Base units with their (non-zero) powers, sorted; () is no unit."""

NO_UNIT_WORDS = ("fraction", "ratio", "share", "percent")


@dataclass(frozen=True)
class Kind:
    """What an expression yields: a number (with its unit), a date or a truth value."""

    type: str  # "number", "date", "boolean"
    unit: Unit = ()
    free: bool = False  # a written constant (or made only of them): takes the unit of what it meets
    integral: bool = False  # always a whole number


_FACTOR = re.compile(r"^([A-Za-z_%€$£][\w%€$£]*)(?:\^(-?\d+))?$")


def fact_unit(unit: str | None) -> Unit:
    """A declared `unit:` as a unit: 'EUR', 'EUR/orders', 'EUR*days', 'EUR^2'; other text is one base unit."""
    if unit is None or unit in NO_UNIT_WORDS:
        return ()
    up, _, down = unit.replace(" ", "").partition("/")
    out: Unit = ()
    for part, sign in ((up, 1), (down, -1)):
        for factor in part.split("*"):
            if factor in ("", "1"):
                continue
            m = _FACTOR.match(factor)
            if m is None or factor in NO_UNIT_WORDS:
                return ((unit, 1),)
            out = _combine(out, ((m.group(1), int(m.group(2) or 1)),), sign)
    return out


def unit_text(unit: Unit) -> str:
    """A unit in words: 'EUR', 'EUR/orders', 'no unit'."""
    if not unit:
        return "no unit"
    up = "*".join(n if p == 1 else f"{n}^{p}" for n, p in unit if p > 0) or "1"
    down = "*".join(n if p == -1 else f"{n}^{-p}" for n, p in unit if p < 0)
    return f"{up}/{down}" if down else up


def _in(unit: Unit) -> str:
    return f"in {unit_text(unit)}" if unit else "without unit"


def kind_text(k: Kind) -> str:
    """What a kind is, for messages: 'a number in EUR', 'a date', 'a truth value'."""
    if k.type == "date":
        return "a date"
    if k.type == "boolean":
        return "a truth value (a comparison)"
    return (
        "a number"
        + ("" if k.free or not k.unit else f" in {unit_text(k.unit)}")
        + (" without unit" if not k.unit and not k.free else "")
    )


def _start(e: Expr) -> int:
    """Where an expression's text begins (an operation's node stands at its operator)."""
    return _start(e.left) if isinstance(e, Bin) else e.pos


def _combine(a: Unit, b: Unit, sign: int) -> Unit:
    powers = dict(a)
    for n, p in b:
        powers[n] = powers.get(n, 0) + sign * p
    return tuple(sorted((n, p) for n, p in powers.items() if p))


class _Checker:
    def __init__(self, text: str, facts: dict[str, Fact]) -> None:
        self.text, self.facts = text, facts

    def fail(self, e: Expr, message: str, expected: str | None = None, help: str | None = None) -> ExprError:
        start = _start(e)
        return ExprError(start, e.end - start, message, expected, help)

    def kind(self, e: Expr) -> Kind:
        if isinstance(e, Num):
            if isinstance(e.value, bool):
                return Kind("boolean")
            return Kind("number", free=True, integral=isinstance(e.value, int))
        if isinstance(e, Ref):
            return self.ref(e)
        if isinstance(e, Neg):
            return self.number(e.operand, "'-'")
        if isinstance(e, Bin):
            return self.binary(e)
        return self.call(e)

    def ref(self, e: Ref) -> Kind:
        if e.name == AS_OF:
            return Kind("date")
        fact = self.facts.get(e.name)
        if fact is None:
            hint = did_you_mean(e.name, [*self.facts, AS_OF])
            raise self.fail(e, f"unknown fact '{e.name}'", help=hint or "declare it in facts.yaml first")
        if fact.type in ("number", "integer"):
            return Kind("number", fact_unit(fact.unit), integral=fact.type == "integer")
        if fact.type in ("date", "boolean"):
            return Kind(fact.type)
        raise self.fail(
            e,
            f"{fact.type} fact '{e.name}' cannot be computed with",
            "number, integer, date or boolean facts",
            "compare it in a rule's condition instead",
        )

    def number(self, e: Expr, where: str) -> Kind:
        k = self.kind(e)
        if k.type == "number":
            return k
        help = "use days_between(a, b) or months_between(a, b) for dates" if k.type == "date" else None
        raise self.fail(e, f"{where} needs a number, but '{unparse(e)}' is {kind_text(k)}", help=help)

    def same(self, a: Expr, b: Expr, ka: Kind, kb: Kind, what: str) -> Kind:
        """Two kinds that must agree (+, -, min, max, if, comparisons): the kind they share."""
        if ka.type != kb.type:
            raise self.fail(b, f"{what}: '{unparse(a)}' is {kind_text(ka)} but '{unparse(b)}' is {kind_text(kb)}")
        if ka.type != "number":
            return ka
        if not ka.free and not kb.free and ka.unit != kb.unit:
            raise self.fail(
                b,
                f"{what}: '{unparse(a)}' is in {unit_text(ka.unit)} but '{unparse(b)}' is in {unit_text(kb.unit)}",
                help="only numbers of the same unit can be added, subtracted or compared",
            )
        unit = kb.unit if ka.free else ka.unit
        return Kind("number", unit, ka.free and kb.free, ka.integral and kb.integral)

    def binary(self, e: Bin) -> Kind:
        ka, kb = self.kind(e.left), self.kind(e.right)
        if e.op in ("<", "<=", ">", ">=", "==", "!="):
            if ka.type == "boolean" and e.op not in ("==", "!="):
                raise self.fail(e.left, f"'{e.op}' orders numbers and dates, not truth values")
            self.same(e.left, e.right, ka, kb, f"cannot compare with '{e.op}'")
            return Kind("boolean")
        if "date" in (ka.type, kb.type) and e.op in "+-":
            if ka.type == kb.type:
                what = "add two dates" if e.op == "+" else "subtract one date from another"
            elif e.op == "-":
                what = "subtract a number from a date" if ka.type == "date" else "subtract a date from a number"
            else:
                what = "add a number and a date"
            raise self.fail(
                e,
                f"cannot {what} ('{unparse(e)}')",
                help="days between two dates: days_between(a, b); months: months_between(a, b)",
            )
        for side, k in ((e.left, ka), (e.right, kb)):
            if k.type != "number":
                raise self.fail(side, f"'{e.op}' needs numbers, but '{unparse(side)}' is {kind_text(k)}")
        if e.op in "+-":
            return self.same(e.left, e.right, ka, kb, f"cannot {'add' if e.op == '+' else 'subtract'}")
        sign = 1 if e.op == "*" else -1
        unit = _combine(ka.unit, kb.unit, sign)
        return Kind("number", unit, ka.free and kb.free, e.op == "*" and ka.integral and kb.integral)

    def call(self, e: Call) -> Kind:
        f, args = e.func, e.args
        if f in ("days_between", "months_between"):
            for a in args:
                k = self.kind(a)
                if k.type != "date":
                    raise self.fail(a, f"{f}() takes two dates, but '{unparse(a)}' is {kind_text(k)}")
            return Kind("number", (("days" if f == "days_between" else "months", 1),), integral=True)
        if f == "if":
            cond = self.kind(args[0])
            if cond.type != "boolean":
                raise self.fail(args[0], f"the first argument of if() must be a comparison, not {kind_text(cond)}")
            return self.same(args[1], args[2], self.kind(args[1]), self.kind(args[2]), "if() has two kinds of result")
        if f == "round":
            k = self.number(args[0], "round()")
            if len(args) == 2:
                places = args[1]
                if not (isinstance(places, Num) and isinstance(places.value, int) and places.value <= 12):
                    raise self.fail(places, "round()'s second argument is the number of decimals", "0 to 12")
            return Kind("number", k.unit, k.free, len(args) == 1)
        if f == "abs":
            return self.number(args[0], "abs()")
        # min, max: numbers of one unit, or dates
        kinds = [self.kind(a) for a in args]
        acc = kinds[0]
        if acc.type == "boolean":
            raise self.fail(args[0], f"{f}() takes numbers or dates, not truth values")
        for a, k in zip(args[1:], kinds[1:], strict=True):
            acc = self.same(args[0], a, acc, k, f"{f}() mixes kinds")
        return acc


def check_expression(text: str, expr: Expr, facts: dict[str, Fact]) -> Kind:
    """The kind an expression yields over these facts; ExprError at the offending part otherwise."""
    return _Checker(text, facts).kind(expr)


def check_declared(fact: Fact, kind: Kind) -> tuple[str, str, str | None] | None:
    """Why a computed fact's expression does not yield its declared type and unit: (message, expected, help)."""
    name = fact.name
    want = {"number": "number", "integer": "number", "date": "date", "boolean": "boolean"}.get(fact.type)
    if want is None:
        return (f"a computed fact cannot be of type {fact.type}", "number, integer, date or boolean", None)
    if kind.type != want:
        return (
            f"computed fact '{name}' is declared {fact.type} but its expression is {kind_text(kind)}",
            fact.type,
            None,
        )
    if fact.type == "integer" and not kind.integral:
        return (
            f"integer fact '{name}' is computed by an expression that can have decimals",
            "a whole number",
            "wrap it in round(...), or declare the fact as number",
        )
    if want == "number" and not kind.free and kind.unit != fact_unit(fact.unit):
        declared = _in(fact_unit(fact.unit))
        return (
            f"computed fact '{name}' is declared {declared} but its expression "
            + (f"is {_in(kind.unit)}" if kind.unit else "has no unit"),
            f"an expression {declared}",
            f"declare 'unit: {unit_text(kind.unit)}'" if kind.unit else "declare it without a unit (or unit: ratio)",
        )
    return None
