"""`rules check --deep`: what a rule set does on every possible account, found by the solver, shown by the engine.

Each finding that an account can show (a conflict, a masked rule firing, a gap, a late conclusion)
comes with a witness: the given facts of an account the solver found, run through the engine, and
kept only when the engine's decision shows the finding. The kinds, severities and their meaning are
documented in docs/checks.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import z3

from kamrules.engine.compute import review_date
from kamrules.engine.evaluate import Decision, Evaluator
from kamrules.engine.solver import Encoding, Term, derivation_order
from kamrules.errors import EngineError
from kamrules.lang.computed import inputs_of
from kamrules.lang.model import ALL_STAGES, Account, AllOf, Leaf, Rule, RuleSet
from kamrules.lang.ops import OPS

KINDS = ("dead", "conflict", "masked", "late-stratum", "out-of-range", "unconcluded", "gap")
SEVERITY = {
    "dead": "error",
    "conflict": "error",
    "masked": "warning",
    "late-stratum": "warning",
    "out-of-range": "warning",
    "unconcluded": "warning",
    "gap": "info",
}
WITNESS_ID = "witness"
REFINEMENTS = 5  # accounts the engine may refute (opaque values learnt) before a witness is given up
Shows = Callable[[Decision], bool]  # whether an engine decision shows the finding
Witness = tuple[tuple[str, Any], ...]  # an account's given facts, in schema order


@dataclass(frozen=True)
class Finding:
    """One thing the deep check found: where, which rules, about which conclusion, and an account showing it."""

    kind: str
    file: str
    line: int
    col: int
    rules: tuple[str, ...] = ()  # the rule reported first, then the others involved
    target: str | None = None  # 'stage', 'structure' or a derived fact
    values: tuple[Any, ...] = ()  # the conclusions involved, in the order of `rules`
    leaves: tuple[Leaf, ...] = ()  # the comparisons concerned (a dead rule's contradiction, a threshold)
    holds: str | None = None  # out-of-range: 'never', 'always' or 'partly' on a present value
    stage: str | None = None  # gap: the current stage
    witness: Witness | None = None  # given facts of an account the engine showed it on

    @property
    def severity(self) -> str:
        """error, warning or info."""
        return SEVERITY[self.kind]


@dataclass(frozen=True)
class DeepCheck:
    """Every finding of the deep check of one rule set, errors first."""

    ruleset: RuleSet
    findings: tuple[Finding, ...]
    as_of: dt.date | None  # the review date the witnesses need (None: no computed fact reads it)

    def count(self, severity: str) -> int:
        """How many findings of one severity."""
        return sum(f.severity == severity for f in self.findings)


class _Checker:
    def __init__(self, ruleset: RuleSet, ev: Evaluator, day: dt.date) -> None:
        self.rs = ruleset
        self.ev = ev
        self.enc = Encoding(ruleset, day)
        self.solver = z3.Solver()
        self.solver.add(*self.enc.domain)
        # Each rule's firing as a literal defined once: the queries below are checks under assumptions,
        # so the solver keeps what it learnt instead of re-reading large terms for every pair.
        self.fires: dict[str, Term] = {}
        for rid, term in self.enc.fires.items():
            self.fires[rid] = z3.Bool(f"fires:{rid}")
            self.solver.add(self.fires[rid] == term)
        self.rules = sorted(ruleset.rules, key=lambda r: r.id)
        self.dead: set[str] = set()
        self._defined = 0
        self._inputs: dict[str, set[str]] = {}

    def _literals(self, terms: tuple[Term, ...]) -> list[Term]:
        out = []
        for t in terms:
            if not (z3.is_const(t) and z3.is_bool(t)):
                self._defined += 1
                lit = z3.Bool(f"query:{self._defined}")
                self.solver.add(lit == t)
                t = lit
            out.append(t)
        return out

    def model(self, *terms: Term) -> Any:
        """A model of the terms with the domain, or None when there is none."""
        found = self.solver.check(*self._literals(terms)) == z3.sat
        return self.solver.model() if found else None

    def possible(self, *terms: Term) -> bool:
        """Whether some account may satisfy the terms: only a proof that none does (unsat) says no.

        Nonlinear arithmetic (a computed fact dividing by a fact) can leave the solver undecided; an
        undecided query then counts as possible, so no rule is ever called dead or masked without a proof.
        """
        return bool(self.solver.check(*self._literals(terms)) != z3.unsat)

    def witness(self, terms: tuple[Term, ...], shows: Shows, rules: Iterable[Rule]) -> Witness | Literal[False] | None:
        """An account satisfying the terms on which the engine's decision shows the finding; False if none is found.

        The account keeps only the facts the rules concerned read when that still shows the finding. When the
        engine refutes an account (an opaque value was off), the true values there are learnt and the solver
        asked again. None when the engine cannot run the account (a limit of durable_rules on very large rule
        sets): the finding stands on the solver alone and is shown without a witness.
        """
        read = set().union(*(self._given_inputs(r) for r in rules))
        for _ in range(REFINEMENTS):
            model = self.model(*terms)
            if model is None:
                return False
            facts = self.enc.account_facts(model)
            try:
                for candidate in ({k: v for k, v in facts.items() if k in read}, facts):
                    if shows(self.ev.evaluate(Account(WITNESS_ID, candidate))):
                        return tuple(candidate.items())
            except EngineError:
                return None
            learnt = self.enc.refine(model)
            if not learnt:
                return False
            self.solver.add(*learnt)
        return False

    def _given_inputs(self, r: Rule) -> set[str]:
        """The given facts a rule reads: directly, through computed facts, through the rules deriving what it reads."""
        if r.id not in self._inputs:
            self._inputs[r.id] = set()  # the loader rules out cycles; this only stops a revisit
            out: set[str] = set()
            for n in r.reads():
                f = self.rs.facts[n]
                if f.derived:
                    out |= set().union(*(self._given_inputs(q) for q in self.rs.rules if n in dict(q.derive)))
                else:
                    out |= {m for m in inputs_of(n, self.rs.facts) if self.rs.facts[m].given}
            self._inputs[r.id] = out
        return self._inputs[r.id]

    # ------------------------------------------------------------------ kinds

    def dead_rules(self) -> Iterable[Finding]:
        for r in self.rules:
            if self.possible(self.fires[r.id]):
                continue
            self.dead.add(r.id)
            yield _at_rule(self.rs, r, "dead", leaves=self._contradiction(r))

    def _contradiction(self, r: Rule) -> tuple[Leaf, ...]:
        """The top-level conditions of a dead rule that contradict each other (the solver's unsat core)."""
        parts = r.when.children if isinstance(r.when, AllOf) else (r.when,)
        marks = [z3.Bool(f"part:{i}") for i in range(len(parts))]
        s = z3.Solver()
        s.add(*self.enc.domain)
        s.add(*[z3.Implies(m, self.enc.condition(p)) for m, p in zip(marks, parts, strict=True)])
        s.check(*marks)
        core = {str(c) for c in s.unsat_core()}
        return tuple(leaf for m, p in zip(marks, parts, strict=True) if str(m) in core for leaf in _leaves(p))

    def conflicts(self) -> Iterable[Finding]:
        for target, rules in _targets(self.rs).items():
            for a, b in combinations(rules, 2):
                va, vb = _conclusion(a, target), _conclusion(b, target)
                same_layer = target in ("stage", "structure") or a.stratum == b.stratum
                if va == vb or a.priority != b.priority or not same_layer or {a.id, b.id} & self.dead:
                    continue
                w = self.witness((self.fires[a.id], self.fires[b.id]), _both_fire(a.id, b.id), (a, b))
                if w is not False:
                    yield _at_rule(self.rs, b, "conflict", (a.id,), target, (vb, va), witness=w)

    def masked(self) -> Iterable[Finding]:
        for target, rules in _targets(self.rs).items():
            for r in rules:
                higher = [q for q in rules if _before(q, r, target)]
                if r.id in self.dead or not higher:
                    continue
                if self.possible(self.fires[r.id], z3.Not(z3.Or(*[self.fires[q.id] for q in higher]))):
                    continue
                by = [q for q in higher if self.possible(self.fires[r.id], self.fires[q.id])]
                w = self.witness((self.fires[r.id],), _overridden_by(r.id, target, None), (r, *by))
                values = tuple(_conclusion(x, target) for x in (r, *by))
                yield _at_rule(self.rs, r, "masked", tuple(q.id for q in by), target, values, witness=w or None)

    def late_conclusions(self) -> Iterable[Finding]:
        for target, rules in _targets(self.rs).items():
            if target in ("stage", "structure"):
                continue
            for a, b in combinations(sorted(rules, key=derivation_order), 2):
                if not (a.stratum < b.stratum and b.priority > a.priority) or {a.id, b.id} & self.dead:
                    continue
                if _conclusion(a, target) == _conclusion(b, target):
                    continue
                both = (self.fires[a.id], self.fires[b.id])
                w = self.witness(both, _overridden_by(b.id, target, a.id), (a, b))
                if w is not False:
                    values = (_conclusion(b, target), _conclusion(a, target))
                    yield _at_rule(self.rs, b, "late-stratum", (a.id,), target, values, witness=w)

    def out_of_range(self) -> Iterable[Finding]:
        """Comparisons that never hold, or always hold, on any account that has the facts they read."""
        for r in self.rules:
            for leaf in _leaves(r.when):
                if not OPS[leaf.op].takes_value or r.id in self.dead:
                    continue
                holds = self._vacuous(leaf)
                if holds is not None:
                    yield Finding("out-of-range", r.file, leaf.line, leaf.col, (r.id,), leaf.fact, (), (leaf,), holds)

    def _vacuous(self, leaf: Leaf) -> str | None:
        """'never' or 'always' when the comparison is decided by the facts' declarations alone."""
        names = sorted(leaf.facts())
        if any(self.rs.facts[n].derived for n in names):
            return None  # what a derived fact can be is the rules' doing: dead and unconcluded rules say it
        if all(self.rs.facts[n].given for n in names):
            s = z3.Solver()  # on given facts only their own bounds matter: a small problem, solved at once
            s.add(*[self.enc.bounds[n] for n in names if n in self.enc.bounds])
        else:
            s = self.solver
        present = [self.enc.term(n)[0] for n in names]
        term = self.enc.leaf(leaf)
        for holds, probe in (("never", term), ("always", z3.Not(term))):
            s.push()
            s.add(*present, probe)
            decided = s.check() == z3.unsat
            s.pop()
            if decided:
                return holds
        return None

    def unconcluded(self) -> Iterable[Finding]:
        facts_file = f"{self.rs.directory}/facts.yaml"
        concluded = {name for r in self.rs.rules for name, _ in r.derive}
        for f in self.rs.facts.values():
            if f.derived and f.name not in concluded:
                readers = tuple(r.id for r in self.rules if f.name in r.reads())
                col = _column(self.rs, "facts.yaml", f.line)
                yield Finding("unconcluded", facts_file, f.line, col, readers, f.name, (f.default,))

    def gaps(self) -> Iterable[Finding]:
        stage_fact = self.rs.facts.get("stage")
        stage_rules = [r for r in self.rs.rules if r.stage]
        if stage_fact is None or stage_fact.type != "enum" or not stage_rules:
            return
        none_fires = z3.Not(z3.Or(*[self.fires[r.id] for r in stage_rules]))
        keyed = "key_account" in self.rs.facts
        key = [self.enc.condition(Leaf("key_account", "eq", True))] if keyed else []
        for stage in stage_fact.values or ():
            if stage not in ALL_STAGES:
                continue
            at = (self.enc.leaf(Leaf("stage", "eq", stage)), *key, none_fires)
            # An account that gives every fact the stage's rules read shows the gap best; any account will do.
            read = {n for r in stage_rules if stage in _stages_required(r) for n in r.reads()}
            given = [self.enc.term(n)[0] for n in sorted(read) if self.rs.facts[n].given]
            shows = _holds_in(keyed)
            w = self.witness((*at, *given), shows, stage_rules)
            w = self.witness(at, shows, stage_rules) if w is False else w
            if w is False:
                continue
            first = next((r for r in stage_rules if stage in _stages_required(r)), stage_rules[0])
            yield _at_rule(self.rs, first, "gap", target="stage", stage=stage, witness=w)


def deep_check(ruleset: RuleSet, as_of: dt.date | None = None) -> DeepCheck:
    """Every finding of every kind on one rule set, errors first, then by file and line."""
    day = as_of or review_date()
    with Evaluator(ruleset, trace="full", as_of=day) as ev:
        c = _Checker(ruleset, ev, day)
        found = [
            *c.dead_rules(),
            *c.conflicts(),
            *c.masked(),
            *c.late_conclusions(),
            *c.out_of_range(),
            *c.unconcluded(),
            *c.gaps(),
        ]
        needs_day = ev.as_of
    rank = {"error": 0, "warning": 1, "info": 2}
    found.sort(key=lambda f: (rank[f.severity], f.file, f.line, f.col, KINDS.index(f.kind)))
    return DeepCheck(ruleset, tuple(found), needs_day)


# ---------------------------------------------------------------------------- helpers


def _leaves(cond: Any) -> Iterable[Leaf]:
    if isinstance(cond, Leaf):
        yield cond
    elif hasattr(cond, "children"):
        for c in cond.children:
            yield from _leaves(c)
    else:
        yield from _leaves(cond.child)


def _targets(rs: RuleSet) -> dict[str, list[Rule]]:
    """The rules concluding each target: the stage, the structure, each derived fact."""
    out: dict[str, list[Rule]] = {}
    for r in sorted(rs.rules, key=lambda r: r.id):
        names = [name for name, _ in r.derive]
        names += ["stage"] * bool(r.stage) + ["structure"] * bool(r.structure)
        for name in names:
            out.setdefault(name, []).append(r)
    return out


def _conclusion(r: Rule, target: str) -> Any:
    if target == "stage":
        return r.stage
    if target == "structure":
        return r.structure
    return dict(r.derive)[target]


def _before(q: Rule, r: Rule, target: str) -> bool:
    """Whether q's conclusion on the target wins over r's whenever both fire, by priority or stratum."""
    if target in ("stage", "structure"):
        return q.priority > r.priority
    return (q.stratum, -q.priority) < (r.stratum, -r.priority)


def _holds_in(keyed: bool) -> Shows:
    """No stage rule decided, and the account is a key account (when the rule set designates key accounts)."""
    return lambda d: d.stage_rule is None and (d.key_account is True or not keyed)


def _both_fire(a: str, b: str) -> Shows:
    return lambda d: {a, b} <= set(d.fired)


def _overridden_by(rule_id: str, target: str, winner: str | None) -> Shows:
    """The rule fired and its conclusion on the target was overridden (by ``winner``, if given)."""

    def shows(d: Decision) -> bool:
        over = next((dict(x.overridden_by) for x in d.reasons if x.rule.id == rule_id), {})
        return target in over and (winner is None or over[target] == winner)

    return shows


def _stages_required(r: Rule) -> set[str]:
    """The stages a rule's top-level `stage eq / in` condition admits (empty when it has none)."""
    parts = r.when.children if isinstance(r.when, AllOf) else (r.when,)
    out: set[str] = set()
    for p in parts:
        if isinstance(p, Leaf) and p.fact == "stage" and p.value_of is None and OPS[p.op].selects:
            out |= {s for s in ALL_STAGES if OPS[p.op].predicate(s, p.value)}
    return out


def _column(rs: RuleSet, name: str, line: int) -> int:
    """The column of the first word on a line of one of the rule set's files (where a rule's `id` stands)."""
    text = dict(rs.files).get(name, "")
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return 1
    src = lines[line - 1]
    return len(src) - len(src.lstrip(" -")) + 1


def _at_rule(rs: RuleSet, r: Rule, kind: str, others: tuple[str, ...] = (), target: str | None = None,
             values: tuple[Any, ...] = (), **more: Any) -> Finding:  # fmt: skip
    name = r.file.rsplit("/", 1)[-1]
    return Finding(kind, r.file, r.line, _column(rs, name, r.line), (r.id, *others), target, values, **more)
