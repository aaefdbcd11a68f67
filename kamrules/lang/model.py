"""Frozen data that crosses module boundaries: facts schema, rules, conditions, rule sets."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

from kamrules.lang.expr import Expr

STAGES = ("pre-KAM", "early-KAM", "mid-KAM", "partnership-KAM", "synergistic-KAM")
UNCOUPLING = "uncoupling-KAM"
ALL_STAGES = (*STAGES, UNCOUPLING)
STRUCTURES = ("base", "advanced")
FACT_TYPES = ("number", "integer", "boolean", "string", "enum", "date")


@dataclass(frozen=True)
class Fact:
    """A declared fact: its type, allowed values or range, and whether it is given or derived."""

    name: str
    type: str
    description: str
    source: str  # "given" or "derived"
    values: tuple[str, ...] | None = None
    unit: str | None = None
    range: tuple[float, float] | None = None
    default: Any = None
    line: int = 0
    computed: Expr | None = None  # source "computed": the parsed expression (lang/expr.py)
    expression: str = ""  # its text as written
    controllable: bool = False  # a lever the account team moves itself (explain's exact smallest change)
    label: str | None = None  # the column title a person reads (facts.yaml `label:`); the name when absent

    @property
    def title(self) -> str:
        """The label, or the name in words when the fact has none."""
        return self.label or self.name.replace("_", " ")

    @property
    def derived(self) -> bool:
        """True when rules conclude this fact."""
        return self.source == "derived"

    @property
    def given(self) -> bool:
        """True when accounts supply this fact (neither derived by rules nor computed)."""
        return self.source == "given"


@dataclass(frozen=True)
class Leaf:
    """A comparison of a fact with a constant (``value``) or with another fact (``value_of``)."""

    fact: str
    op: str
    value: Any = None
    value_of: str | None = None
    line: int = 0
    col: int = 0
    times: float | None = None  # with value_of: compare with value_of × times + plus
    plus: int | float | None = None

    def facts(self) -> set[str]:
        """The facts this comparison reads."""
        return {self.fact} | ({self.value_of} if self.value_of else set())


@dataclass(frozen=True)
class AllOf:
    """Every child holds."""

    children: tuple[Condition, ...]

    def facts(self) -> set[str]:
        """The facts read anywhere below."""
        return set().union(*(c.facts() for c in self.children))


@dataclass(frozen=True)
class AnyOf:
    """At least one child holds."""

    children: tuple[Condition, ...]

    def facts(self) -> set[str]:
        """The facts read anywhere below."""
        return set().union(*(c.facts() for c in self.children))


@dataclass(frozen=True)
class Not:
    """The child does not hold."""

    child: Condition

    def facts(self) -> set[str]:
        """The facts read below."""
        return self.child.facts()


Condition = Leaf | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Action:
    """A recommended action: a stable id and a sentence for the account team."""

    id: str
    text: str


@dataclass(frozen=True)
class Rule:
    """One rule: when its condition holds it derives facts and/or recommends."""

    id: str
    description: str
    priority: int
    when: Condition
    file: str
    line: int
    derive: tuple[tuple[str, Any], ...] = ()
    stage: str | None = None
    structure: str | None = None
    actions: tuple[Action, ...] = ()
    tags: tuple[str, ...] = ()
    stratum: int = 0

    @property
    def source(self) -> str:
        """Where the rule is written, as ``file:line``."""
        return f"{self.file}:{self.line}"

    def reads(self) -> set[str]:
        """The facts the rule's condition reads."""
        return self.when.facts()


@dataclass(frozen=True)
class RuleSet:
    """A loaded, validated rule folder with its content hash."""

    directory: str
    facts: dict[str, Fact]
    rules: tuple[Rule, ...]
    version: str
    files: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (name, text) as read

    @functools.cached_property  # read for every account evaluated
    def strata(self) -> int:
        """How many evaluation layers the rules need."""
        return 1 + max((r.stratum for r in self.rules), default=0)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def given_facts(self) -> list[Fact]:
        """Facts an account supplies."""
        return [f for f in self.facts.values() if f.given]

    def computed_facts(self) -> list[Fact]:
        """Facts kamrules computes from others, in dependency order (inputs first)."""
        return [f for f in self.facts.values() if f.computed is not None]


@dataclass(frozen=True)
class Account:
    """One account's given facts, as read from a file or a table row."""

    id: str
    facts: dict[str, Any]
    name: str | None = None
    origin: str = ""  # file or file:row it came from


def stage_index(stage: str) -> int:
    """Position on the path (uncoupling-KAM is off the path: -1)."""
    return STAGES.index(stage) if stage in STAGES else -1


def stage_move(current: str | None, target: str | None) -> str:
    """The move from the current stage to a recommended one."""
    if target is None or target == current:
        return "hold"
    if target == UNCOUPLING:
        return "uncouple"
    if current == UNCOUPLING or current is None:
        return "recover" if current == UNCOUPLING else "advance"
    return "advance" if stage_index(target) > stage_index(current) else "regress"


def is_date(value: Any) -> bool:
    """True for dates (not datetimes)."""
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)
