"""Facts → decision: fire the rules stratum by stratum, resolve conflicts, keep the full trace."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple, get_args

from kamrules import __version__
from kamrules.engine.compiler import encode_value
from kamrules.engine.compute import Computation, compute, plan, review_date
from kamrules.engine.durable import Engine
from kamrules.engine.reference import holds, leaf_holds, leaf_paths, other_value
from kamrules.errors import EngineError
from kamrules.lang.computed import inputs_of
from kamrules.lang.expr import AS_OF, refs
from kamrules.lang.model import Account, Rule, RuleSet, stage_move
from kamrules.lang.values import jsonable

Trace = Literal["full", "fired", "none"]
"""How much provenance a decision keeps: every comparison of each fired rule (full), the fired rules
and the derived facts they relied on (fired), or only which rules fired (none)."""


class ConditionTrace(NamedTuple):
    """One comparison of a fired (or examined) rule: threshold, observed value, and whether it held."""

    # A NamedTuple, not a frozen dataclass: a portfolio run builds tens of millions of these.

    fact: str
    op: str
    value: Any
    observed: Any
    holds: bool
    path: str
    value_of: str | None = None
    times: float | None = None
    plus: int | float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = {
            "fact": self.fact,
            "op": self.op,
            "value": jsonable(self.value),
            "observed": jsonable(self.observed),
            "holds": self.holds,
            "path": self.path,
        }
        if self.value_of:
            d["value_of"] = self.value_of
        if self.times is not None:
            d["times"] = self.times
        if self.plus is not None:
            d["plus"] = self.plus
        return d


@dataclass(frozen=True)
class Reason:
    """A fired rule, what it concluded, its conditions, and the derived facts it relied on."""

    rule: Rule
    conditions: tuple[ConditionTrace, ...]
    relied_on: tuple[tuple[str, Any, str], ...]  # (derived fact, value, rule id or "default")
    overridden_by: dict[str, str] = field(default_factory=dict)  # conclusion → winning rule id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **_rule_part(self.rule),
            "conditions": [c.to_dict() for c in self.conditions],
            "derived_from": [{"fact": f, "value": jsonable(v), "rule": by} for f, v, by in self.relied_on],
            "overridden": dict(self.overridden_by),
        }


# Each rule's part of a reason's JSON, by id(rule): made once, as it does not depend on the account (read only).
_RULE_PARTS: dict[int, tuple[Rule, dict[str, Any]]] = {}


def _rule_part(r: Rule) -> dict[str, Any]:
    hit = _RULE_PARTS.get(id(r))
    if hit is None or hit[0] is not r:
        if len(_RULE_PARTS) > 4096:  # rule sets reloaded many times: start again
            _RULE_PARTS.clear()
        concludes = {
            "derive": {k: jsonable(v) for k, v in r.derive} if r.derive else None,
            "stage": r.stage,
            "structure": r.structure,
            "actions": [a.id for a in r.actions] if r.actions else None,
        }  # in this order, each only when the rule concludes it
        part = {"rule": r.id, "source": r.source, "description": r.description, "priority": r.priority}
        concluded = {k: v for k, v in concludes.items() if v}
        hit = _RULE_PARTS[id(r)] = (r, part | {"stratum": r.stratum, "concludes": concluded})
    return hit[1]


@dataclass(frozen=True)
class Decision:
    """The recommendation for one account, with every reason behind it."""

    account: str
    name: str | None
    given: dict[str, Any]
    derived: dict[str, Any]
    derived_by: dict[str, str]
    stage_current: str | None
    stage_recommended: str | None
    move: str
    stage_rule: str | None
    structure: str | None
    structure_rule: str | None
    actions: tuple[dict[str, Any], ...]
    reasons: tuple[Reason, ...]
    rules_version: str
    origin: str = ""
    computed: tuple[Computation, ...] = ()  # each computed fact: its value or why it is missing
    as_of: dt.date | None = None  # the review date computed facts read (None: none reads `as_of`)

    @property
    def key_account(self) -> bool | None:
        """The key-account designation, when the rule set derives one."""
        return self.derived.get("key_account")

    @property
    def observed(self) -> dict[str, Any]:
        """The given facts and the computed facts that have a value: what the account was decided on."""
        return self.given | {c.fact: c.value for c in self.computed if c.value is not None}

    @property
    def fired(self) -> list[str]:
        """Ids of the rules that fired, in evaluation order."""
        return [r.rule.id for r in self.reasons]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the shape documented in the README."""
        return {
            "account": self.account,
            "name": self.name,
            "key_account": self.key_account,
            "stage": {
                "current": self.stage_current,
                "recommended": self.stage_recommended,
                "move": self.move,
                "rule": self.stage_rule,
            },
            "structure": {"recommended": self.structure, "rule": self.structure_rule} if self.structure else None,
            "actions": list(self.actions),
            "derived": {k: {"value": jsonable(v), "rule": self.derived_by[k]} for k, v in self.derived.items()},
            "given": {k: jsonable(v) for k, v in self.given.items()},
            "reasons": [r.to_dict() for r in self.reasons],
            "fired": self.fired,
            "rules_version": self.rules_version,
            "kamrules_version": __version__,
        } | self._computed_dict()

    def _computed_dict(self) -> dict[str, Any]:
        # Only rule sets with computed facts add these keys, so other decisions keep their recorded shape.
        out: dict[str, Any] = {"as_of": self.as_of.isoformat()} if self.as_of is not None else {}
        if self.computed:
            out["computed"] = {c.fact: c.to_dict() for c in self.computed}
        return out


def conflict_order(rule: Rule) -> tuple[int, str]:
    """The sort key of conflict resolution (docs/rule-language.md): highest priority, then rule id."""
    return (-rule.priority, rule.id)


class Evaluator:
    """Evaluates accounts against one rule set through one engine; reuse it for many accounts."""

    def __init__(self, ruleset: RuleSet, trace: Trace = "full", as_of: dt.date | None = None) -> None:
        self.ruleset = ruleset
        self.trace = _checked(trace)
        self._plan = plan(ruleset)
        self._day = as_of or review_date()
        self._reads_derived = any(
            ruleset.facts[n].derived for f in self._plan for n in inputs_of(f.name, ruleset.facts) if n in ruleset.facts
        )
        # Recorded (and shown) only when a computed fact reads it: other decisions do not depend on the date.
        self.as_of = self._day if any(AS_OF in refs(f.computed, as_of=True) for f in self._plan if f.computed) else None
        self._engine: Engine | None = None  # built on first use: decisions from given firings need none
        self._by_id = {r.id: r for r in ruleset.rules}
        self._computed_names = {f.name for f in self._plan}
        self._by_stratum: list[list[Rule]] = [[] for _ in range(ruleset.strata)]
        for r in ruleset.rules:
            self._by_stratum[r.stratum].append(r)
        # What durable_rules is sent for a stratum: only the facts its rules read (their compiled conditions
        # name no other); the JSON it parses, asserts and retracts is a third of every fact's.
        self._posted = [frozenset().union(*(r.reads() for r in rules)) for rules in self._by_stratum]
        # Per-rule facts that do not change between accounts, computed once.
        self._leaves = {r.id: tuple(leaf_paths(r.when)) for r in ruleset.rules}
        self._reads = {r.id: tuple(sorted(r.reads())) for r in ruleset.rules}
        # A derived fact is settled after the last stratum of the rules that derive it.
        self._settled_after: dict[int, list[str]] = {}
        for fname, fact in ruleset.facts.items():
            if fact.derived:
                layers = [r.stratum for r in ruleset.rules if any(d == fname for d, _ in r.derive)]
                self._settled_after.setdefault(max(layers, default=0), []).append(fname)

    @property
    def engine(self) -> Engine:
        """The rule set compiled into durable_rules (built when first needed)."""
        if self._engine is None:
            self._engine = Engine(self.ruleset)
        return self._engine

    def close(self) -> None:
        """Free the engine."""
        if self._engine is not None:
            self._engine.close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def evaluate(self, account: Account, trace: Trace | None = None, as_of: dt.date | None = None) -> Decision:
        """The decision for one account (trace, as_of: this call's instead of the evaluator's)."""
        return self.evaluate_many([account], trace, as_of)[0]

    def evaluate_many(
        self,
        accounts: Sequence[Account],
        trace: Trace | None = None,
        as_of: dt.date | None = None,
        firings: Sequence[Collection[str]] | None = None,
    ) -> list[Decision]:
        """Decisions for a batch, fired through the engine together or taken from ``firings`` (as_of: its date)."""
        # firings: each account's fired rule ids as another engine found them (engine/columnar.py); the
        # decisions are built from them exactly as from durable_rules' own, without durable_rules.
        if firings is not None and len(firings) != len(accounts):
            raise ValueError(f"{len(firings)} firings for {len(accounts)} accounts")
        level = self.trace if trace is None else _checked(trace)
        # A scenario reviews each period on its own date; one evaluator serves them all.
        day = as_of or self._day
        n = len(accounts)
        facts = [dict(a.facts) for a in accounts]
        derived_by: list[dict[str, str]] = [{} for _ in range(n)]
        fired: list[list[Rule]] = [[] for _ in range(n)]
        overridden: list[dict[str, dict[str, str]]] = [{} for _ in range(n)]
        given = firings is not None
        encoded = [] if given else [{k: encode_value(v) for k, v in f.items()} for f in facts]
        computed: list[list[Computation]] = [[] for _ in range(n)]
        for stratum in range(self.ruleset.strata):
            if self._plan and (stratum == 0 or self._reads_derived):
                # Computed before each stratum: a computed fact may read derived facts settled by the last one.
                for i in range(n):
                    computed[i] = compute(self._plan, facts[i], day)
                    for c in () if given else computed[i]:
                        if c.value is None:
                            encoded[i].pop(c.fact, None)
                        else:
                            encoded[i][c.fact] = encode_value(c.value)
            if firings is None:
                posted = self._posted[stratum]
                hits = self.engine.fire([{k: v for k, v in e.items() if k in posted} for e in encoded], stratum)
            else:
                hits = self._layer(firings, stratum)
            for i in range(n):
                rules = sorted((self._by_id[rid] for rid in hits[i]), key=conflict_order)
                for r in rules:
                    # A cheap cross-check on every run; the property tests prove it in depth.
                    if not holds(r.when, facts[i]):
                        raise EngineError(
                            f"the engine fired rule '{r.id}' for account '{accounts[i].id}' "
                            "but its condition does not hold"
                        )
                fired[i].extend(rules)
                before = len(derived_by[i])
                self._settle(stratum, rules, facts[i], derived_by[i], overridden[i])
                if len(derived_by[i]) != before and not given:
                    encoded[i].update((k, encode_value(facts[i][k])) for k in derived_by[i])
        return [
            replace(d, computed=tuple(computed[i]), as_of=day if self.as_of else None) if self._plan else d
            for i, d in enumerate(
                self._decision(accounts[i], facts[i], derived_by[i], fired[i], overridden[i], level) for i in range(n)
            )
        ]

    def _layer(self, firings: Sequence[Collection[str]], stratum: int) -> list[set[str]]:
        return [{rid for rid in f if self._by_id[rid].stratum == stratum} for f in firings]

    def _settle(
        self,
        stratum: int,
        rules: list[Rule],
        facts: dict[str, Any],
        derived_by: dict[str, str],
        overridden: dict[str, dict[str, str]],
    ) -> None:
        for r in rules:  # already in conflict order: the first to conclude wins
            for fname, value in r.derive:
                if fname in derived_by:
                    overridden.setdefault(r.id, {})[fname] = derived_by[fname]
                else:
                    facts[fname] = value
                    derived_by[fname] = r.id
        for fname in self._settled_after.get(stratum, []):
            default = self.ruleset.facts[fname].default
            if fname not in derived_by and default is not None:
                facts[fname] = default
                derived_by[fname] = "default"

    def _decision(
        self,
        account: Account,
        facts: dict[str, Any],
        derived_by: dict[str, str],
        fired: list[Rule],
        overridden: dict[str, dict[str, str]],
        trace: Trace,
    ) -> Decision:
        ordered = sorted(fired, key=lambda r: (r.stratum, *conflict_order(r)))
        by_priority = sorted(fired, key=conflict_order)
        stage_rule = next((r for r in by_priority if r.stage), None)
        structure_rule = next((r for r in by_priority if r.structure), None)
        for r in fired:
            if r.stage and stage_rule is not None and r is not stage_rule:
                overridden.setdefault(r.id, {})["stage"] = stage_rule.id
            if r.structure and structure_rule is not None and r is not structure_rule:
                overridden.setdefault(r.id, {})["structure"] = structure_rule.id
        actions: dict[str, dict[str, Any]] = {}
        for r in by_priority:
            for a in r.actions:
                if a.id in actions:
                    actions[a.id]["rules"].append(r.id)
                else:
                    actions[a.id] = {"id": a.id, "text": a.text, "rules": [r.id]}
        current = facts.get("stage")
        target = stage_rule.stage if stage_rule else current
        reasons = tuple(self._reason(r, facts, derived_by, overridden, trace) for r in ordered)
        given = {k: v for k, v in facts.items() if k not in derived_by and k not in self._computed_names}
        derived = {k: facts[k] for k in derived_by}
        return Decision(
            account.id,
            account.name,
            given,
            derived,
            dict(derived_by),
            current,
            target,
            stage_move(current, target),
            stage_rule.id if stage_rule else None,
            structure_rule.structure if structure_rule else None,
            structure_rule.id if structure_rule else None,
            tuple(actions.values()),
            reasons,
            self.ruleset.version,
            account.origin,
        )

    def _reason(
        self,
        r: Rule,
        facts: dict[str, Any],
        derived_by: dict[str, str],
        overridden: dict[str, dict[str, str]],
        trace: Trace,
    ) -> Reason:
        """A fired rule with as much of its provenance as the trace level keeps."""
        conditions: tuple[ConditionTrace, ...] = ()
        relied_on: tuple[tuple[str, Any, str], ...] = ()
        if trace == "full":
            conditions = tuple(
                ConditionTrace(
                    leaf.fact,
                    leaf.op,
                    other_value(leaf, facts) if leaf.value_of else leaf.value,
                    facts.get(leaf.fact),
                    leaf_holds(leaf, facts),
                    path,
                    leaf.value_of,
                    leaf.times,
                    leaf.plus,
                )
                for path, leaf in self._leaves[r.id]
            )
        if trace != "none":
            relied_on = tuple((f, facts[f], derived_by[f]) for f in self._reads[r.id] if f in derived_by)
        return Reason(r, conditions, relied_on, overridden.get(r.id, {}))


def _checked(trace: str) -> Trace:
    if trace not in get_args(Trace):
        raise ValueError(f"trace must be one of {', '.join(get_args(Trace))}, not {trace!r}")
    return trace  # type: ignore[return-value]


def evaluate(ruleset: RuleSet, account: Account) -> Decision:
    """Evaluate one account (opens and closes an engine; use Evaluator for many)."""
    with Evaluator(ruleset) as ev:
        return ev.evaluate(account)
