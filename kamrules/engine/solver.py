"""The rule model as z3 terms: facts with their types, ranges and presence; conditions; derived and computed facts.

The translation follows the evaluator's semantics exactly where it can: a comparison on a missing fact
is false, a `not` flips its child, a derived fact takes the conclusion of the first firing rule that
derives it (stratum, then priority, then rule id) or its default, and a computed fact is missing when
an input is, when it divides by zero or when its value leaves the fact's range; months_between goes
through the civil calendar. Only round is opaque: a value within half a unit of its argument, so the
solver may propose an account that the engine refutes but never misses one; where the engine refutes
it, what rounding gives there is learnt (`refine`) and the solver asked again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import z3

from kamrules.engine.reference import BINARY
from kamrules.lang.expr import AS_OF, Bin, Call, Expr, Neg, Num, Ref
from kamrules.lang.model import AllOf, AnyOf, Condition, Fact, Leaf, Not, Rule, RuleSet
from kamrules.lang.ops import OPS
from kamrules.lang.values import round_half_away

_EPOCH = dt.date(1970, 1, 1)
Term = Any  # a z3 expression (z3 has no type annotations)
DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2199, 12, 31))  # what a date fact can be in a solved account


class _Logic:
    """z3's connectives for the operator registry's solver forms."""

    def any(self, terms: Sequence[Term]) -> Term:
        return z3.Or(*terms) if terms else z3.BoolVal(False)

    def all(self, terms: Sequence[Term]) -> Term:
        return z3.And(*terms) if terms else z3.BoolVal(True)

    def no(self, term: Term) -> Term:
        return z3.Not(term)


LOGIC = _Logic()


def derivation_order(rule: Rule) -> tuple[int, int, str]:
    """The order in which the evaluator settles a derived fact: stratum, then priority, then rule id."""
    return (rule.stratum, -rule.priority, rule.id)


class Encoding:
    """One rule set as z3 terms: a value and a presence per fact, and whether each rule fires."""

    def __init__(self, ruleset: RuleSet, as_of: dt.date) -> None:
        self.ruleset = ruleset
        self.facts = ruleset.facts
        self.as_of = as_of
        self.value: dict[str, Term] = {}
        self.present: dict[str, Term] = {}
        self.bounds: dict[str, Term] = {}  # per given fact: within its range or enum when present
        self.axioms: list[Term] = []  # the calendar of dates months_between reads, the band of rounded values
        self.opaque: list[tuple[str, list[Term], Term]] = []  # (function, argument terms, value)
        self.fires: dict[str, Term] = {}
        self._fresh = 0
        for f in self.facts.values():
            if f.given:
                self._declare(f)
        for r in sorted(ruleset.rules, key=derivation_order):
            self.rule(r)

    def rule(self, r: Rule) -> Term:
        """Whether the rule fires (encoded once; a derived fact it reads brings the rules that derive it)."""
        if r.id not in self.fires:
            self.fires[r.id] = self.condition(r.when)
        return self.fires[r.id]

    # ------------------------------------------------------------------ facts

    def _declare(self, f: Fact) -> None:
        v = self.var(f.name, f.type)
        self.value[f.name] = v
        has = self.present[f.name] = z3.Bool(f"has:{f.name}")
        bounds = []
        if f.type == "enum":
            bounds = [v >= 0, v < len(f.values or ())]
        elif f.type == "date":  # dates a person writes; unbounded, a model could name a year past 9999
            bounds = [v >= constant(f, DATE_RANGE[0]), v <= constant(f, DATE_RANGE[1])]
        elif f.range is not None:
            bounds = [v >= constant(f, f.range[0]), v <= constant(f, f.range[1])]
        if bounds:
            self.bounds[f.name] = z3.Implies(has, z3.And(*bounds))

    @property
    def domain(self) -> list[Term]:
        """What every account satisfies: given facts within their ranges and enums."""
        return [*self.bounds.values(), *self.axioms]

    def var(self, name: str, ftype: str) -> Term:
        """A solver variable of the sort that holds a fact of this type."""
        if ftype == "number":
            return z3.Real(name)
        if ftype == "boolean":
            return z3.Bool(name)
        if ftype == "string":
            return z3.String(name)
        return z3.Int(name)  # integer, enum (index into its values), date (days since 1970-01-01)

    def _derived(self, f: Fact, derivers: list[Rule]) -> None:
        value: Term = constant(f, f.default) if f.default is not None else self.var(f"{f.name}:none", f.type)
        for r in reversed(derivers):
            value = z3.If(self.fires[r.id], constant(f, dict(r.derive)[f.name]), value)
        self.value[f.name] = value
        self.present[f.name] = (
            z3.BoolVal(True) if f.default is not None else LOGIC.any([self.fires[r.id] for r in derivers])
        )

    def _computed(self, f: Fact) -> None:
        assert f.computed is not None
        has, v = self.expression(f.computed)
        if f.type == "integer" and v.sort() == z3.RealSort():
            v = z3.If(v >= 0, z3.ToInt(v), -z3.ToInt(-v))  # int() truncates towards zero
        if f.type in ("number", "integer") and f.range is not None:
            has = z3.And(has, v >= constant(f, f.range[0]), v <= constant(f, f.range[1]))
        self.value[f.name], self.present[f.name] = v, has

    def expression(self, e: Expr) -> tuple[Term, Term]:
        """(present, value) of an expression of computed facts."""
        if isinstance(e, Num):
            if isinstance(e.value, bool):
                return z3.BoolVal(True), z3.BoolVal(e.value)
            return z3.BoolVal(True), _number(e.value)
        if isinstance(e, Ref):
            if e.name == AS_OF:
                return z3.BoolVal(True), z3.IntVal((self.as_of - _EPOCH).days)
            self._ensure(e.name)
            return self.present[e.name], self.value[e.name]
        if isinstance(e, Neg):
            has, v = self.expression(e.operand)
            return has, -v
        if isinstance(e, Bin):
            return self._binary(e)
        return self._call(e)

    def term(self, name: str) -> tuple[Term, Term]:
        """(present, value) of a fact."""
        self._ensure(name)
        return self.present[name], self.value[name]

    def _ensure(self, name: str) -> None:
        """Encode a derived or computed fact when first read (the loader has ruled out cycles)."""
        if name in self.value:
            return
        f = self.facts[name]
        if f.computed is not None:
            self._computed(f)
            return
        derivers = sorted((r for r in self.ruleset.rules if name in dict(r.derive)), key=derivation_order)
        for r in derivers:
            self.rule(r)
        self._derived(f, derivers)

    def _binary(self, e: Bin) -> tuple[Term, Term]:
        ha, a = self.expression(e.left)
        hb, b = self.expression(e.right)
        has = z3.And(ha, hb)
        if e.op == "/":
            return z3.And(has, b != 0), _real(a) / _real(b)
        return has, BINARY[e.op](a, b)

    def _call(self, e: Call) -> tuple[Term, Term]:
        if e.func == "if":
            hc, c = self.expression(e.args[0])
            ha, a = self.expression(e.args[1])
            hb, b = self.expression(e.args[2])
            return z3.And(hc, z3.If(c, ha, hb)), z3.If(c, a, b)
        parts = [self.expression(a) for a in e.args]
        has = z3.And(*[p for p, _ in parts])
        vals = [v for _, v in parts]
        if e.func == "abs":
            return has, z3.If(vals[0] >= 0, vals[0], -vals[0])
        if e.func in ("min", "max"):
            out = vals[0]
            for v in vals[1:]:
                out = z3.If(v < out, v, out) if e.func == "min" else z3.If(v > out, v, out)
            return has, out
        if e.func == "days_between":
            return has, vals[1] - vals[0]
        return has, self._opaque(e, vals)

    def _opaque(self, e: Call, args: list[Term]) -> Term:
        """months_between exactly, through the calendar; round as a value within half a unit, pinned later."""
        self._fresh += 1
        if e.func == "months_between":
            return self._months_between(args[0], args[1])
        r = z3.Real(f"{e.func}:{self._fresh}")
        places = e.args[1].value if len(e.args) == 2 and isinstance(e.args[1], Num) else 0
        half = z3.RealVal(Fraction(1, 2 * 10 ** int(places)))
        self.axioms.append(z3.And(r - args[0] <= half, args[0] - r <= half))
        self.opaque.append((e.func, args, r))
        return r

    def _months_between(self, a: Term, b: Term) -> Term:
        """lang/values.py's months_between on day numbers: whole months, short of the anniversary day (clamped
        to the later month's length) one less."""
        (ya, ma, da, la), (yb, mb, db, lb) = self._civil(a), self._civil(b)
        ahead = (yb - ya) * 12 + mb - ma - z3.If(db < z3.If(da < lb, da, lb), 1, 0)
        behind = (ya - yb) * 12 + ma - mb - z3.If(da < z3.If(db < la, db, la), 1, 0)
        return z3.If(b < a, -behind, ahead)

    def _civil(self, days: Term) -> tuple[Term, Term, Term, Term]:
        """Year, month, day and month length of a day number (days since 1970-01-01), by the civil calendar."""
        n = self._fresh = self._fresh + 1
        y, m, d = z3.Int(f"year:{n}"), z3.Int(f"month:{n}"), z3.Int(f"day:{n}")
        leap = z3.Or(z3.And(y % 4 == 0, y % 100 != 0), y % 400 == 0)
        length = z3.If(m == 2, z3.If(leap, 29, 28), z3.If(z3.Or(m == 4, m == 6, m == 9, m == 11), 30, 31))
        # days_from_civil (H. Hinnant's algorithm): linear, with division by constants only
        yy = y - z3.If(m <= 2, 1, 0)
        era = yy / 400
        yoe = yy - era * 400
        doy = (153 * (m + z3.If(m > 2, -3, 9)) + 2) / 5 + d - 1
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        self.axioms.append(z3.And(m >= 1, m <= 12, d >= 1, d <= length, y >= 1, days == era * 146097 + doe - 719468))
        return y, m, d, length

    def refine(self, model: Any) -> list[Term]:
        """What round really gives around the model's arguments: rounding is monotone, so a value learnt at x
        bounds it on either side of x. Constraints to add, one pair per rounded value."""
        out = []
        for _func, args, value in self.opaque:
            x = model.eval(args[0], model_completion=True)
            places = int(_py_number(model.eval(args[1], model_completion=True))) if len(args) == 2 else None
            true = _number(round_half_away(_py_number(x), places))
            out += [z3.Implies(args[0] <= x, value <= true), z3.Implies(args[0] >= x, value >= true)]
        return out

    # ------------------------------------------------------------------ conditions

    def condition(self, cond: Condition) -> Term:
        """The term that holds exactly when the condition does."""
        if isinstance(cond, AllOf):
            return LOGIC.all([self.condition(c) for c in cond.children])
        if isinstance(cond, AnyOf):
            return LOGIC.any([self.condition(c) for c in cond.children])
        if isinstance(cond, Not):
            return z3.Not(self.condition(cond.child))
        return self.leaf(cond)

    def leaf(self, leaf: Leaf) -> Term:
        """One comparison: present facts, and the operator's solver form."""
        op = OPS[leaf.op]
        self._ensure(leaf.fact)
        if not op.takes_value:
            return op.solver(self.present[leaf.fact], None, LOGIC)
        fact = self.facts[leaf.fact]
        x = self.value[leaf.fact]
        has = [self.present[leaf.fact]]
        if leaf.value_of is not None:
            self._ensure(leaf.value_of)
            has.append(self.present[leaf.value_of])
            right: Term = self.value[leaf.value_of]
            if leaf.times is not None:
                right = right * _number(leaf.times)
            if leaf.plus is not None:
                right = right + _number(leaf.plus)
        elif op.operand in ("list", "range"):
            right = [constant(fact, v) for v in leaf.value]
        else:
            right = constant(fact, leaf.value)
        return z3.And(*has, op.solver(x, right, LOGIC))

    # ------------------------------------------------------------------ models

    def account_facts(self, model: Any) -> dict[str, Any]:
        """The given facts of an account the model describes (absent facts left out), in schema order."""
        out: dict[str, Any] = {}
        for f in self.facts.values():
            if not f.given:
                continue
            has = model[self.present[f.name]]  # a given fact's terms are constants: look them up, no eval
            if has is not None and z3.is_true(has):
                value = model[self.value[f.name]]
                if value is None:  # present but unconstrained: any value of its type will do
                    value = model.eval(self.value[f.name], model_completion=True)
                out[f.name] = python_value(f, value)
        return out


def _number(v: int | float) -> Term:
    return z3.IntVal(v) if isinstance(v, int) else z3.RealVal(str(v))


def _real(t: Term) -> Term:
    return z3.ToReal(t) if t.sort() == z3.IntSort() else t


def constant(f: Fact, value: Any) -> Term:
    """A constant of a rule or schema as a term of the fact's sort."""
    if f.type == "enum":
        return z3.IntVal((f.values or ()).index(value))
    if f.type == "date":
        return z3.IntVal((value - _EPOCH).days)
    if f.type == "boolean":
        return z3.BoolVal(bool(value))
    if f.type == "string":
        return z3.StringVal(str(value))
    if f.type == "integer" and isinstance(value, int):
        return z3.IntVal(value)
    return _number(value)


def _py_number(term: Term) -> int | float:
    if z3.is_int_value(term):
        return int(term.as_long())
    frac = Fraction(term.numerator_as_long(), term.denominator_as_long())
    return int(frac) if frac.denominator == 1 else float(frac)


def python_value(f: Fact, term: Term) -> Any:
    """A model's value as the account file writes it."""
    if f.type == "boolean":
        return z3.is_true(term)
    if f.type == "string":
        return term.as_string()
    if f.type == "number":
        return _py_number(term)
    n = term.as_long()
    if f.type == "enum":
        return (f.values or ())[n]
    if f.type == "date":
        return _EPOCH + dt.timedelta(days=n)
    return n
