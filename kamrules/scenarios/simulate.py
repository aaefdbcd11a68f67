"""Running a scenario step by step through the rules, for one account (in one or many runs) or for a portfolio."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kamrules.engine import Decision, Evaluator
from kamrules.inputs.tables import AccountRow
from kamrules.kam import StructureDecision, load_settings, load_structure_rules
from kamrules.kam.context import period_end, scenario_facts
from kamrules.kam.review import review
from kamrules.lang import Account, Fact, RuleSet
from kamrules.scenarios.model import MOVES, Change, Distribution, Scenario, Step

Draw = Callable[[Distribution], Any]  # how a random change gets its value: the central one, or a random draw

# Facts a period inherits from the one before: (fact, the fact whose value it takes). A period's revenue
# becomes the next period's revenue_previous, so revenue_growth (computed) follows the revenue changes.
CARRIED = (("revenue_previous", "revenue"),)


@dataclass(frozen=True)
class Clamp:
    """A change that would have pushed a fact outside its declared range, stopped at the bound."""

    fact: str
    bound: Any
    account: str | None = None  # the account of a portfolio it happened to; None for the one account


@dataclass(frozen=True)
class StepResult:
    """What happened in one step (period) of one run."""

    label: str
    events: tuple[str, ...]
    decision: Decision
    refused: bool
    stage: str  # where the relationship stands at the end of the period
    clamps: tuple[Clamp, ...] = ()

    @property
    def action_ids(self) -> list[str]:
        """Ids of the recommended actions."""
        return [a["id"] for a in self.decision.actions]


@dataclass(frozen=True)
class PortfolioStepResult:
    """What happened in one step of a portfolio scenario: the review's structure and every account's move."""

    label: str
    events: tuple[str, ...]
    structure: StructureDecision  # the portfolio rules' decision
    portfolio_facts: dict[str, Any]
    key_accounts: tuple[str, ...]  # ids of the key accounts, table order
    moves: dict[str, str]  # account → recommended move, for accounts with a stage
    stages: dict[str, str]  # account → stage at the end of the period
    refused: bool
    clamps: tuple[Clamp, ...] = ()

    def move_counts(self) -> dict[str, int]:
        """How many accounts got each recommended move (moves nobody got are left out), in MOVES order."""
        c = Counter(self.moves.values())
        return {m: c[m] for m in MOVES if c[m]}


@dataclass(frozen=True)
class Timeline:
    """One run of a scenario, step by step."""

    scenario: Scenario
    steps: tuple[StepResult | PortfolioStepResult, ...]


def simulate(scenario: Scenario, evaluator: Evaluator | None = None) -> Timeline:
    """The expected path of an account or a portfolio: random changes take their central value.

    The central value is the mean, the midpoint or the most probable choice. A portfolio review runs its
    own engine, so ``evaluator`` serves single-account scenarios only.
    """
    if scenario.is_portfolio:
        return Timeline(scenario, tuple(_portfolio_steps(scenario, Distribution.central)))
    ev = evaluator or Evaluator(scenario.ruleset)
    try:
        steps = tuple(results[0] for results in account_runs(scenario, ev, 1, Distribution.central))
    finally:
        if evaluator is None:
            ev.close()
    return Timeline(scenario, steps)


def account_runs(scenario: Scenario, evaluator: Evaluator, runs: int, draw: Draw) -> Iterator[list[StepResult]]:
    """Every run of a single-account scenario advanced together, one engine batch per step."""
    account = scenario.single_account
    rs = scenario.ruleset
    settings = load_settings(rs.directory)
    facts = [dict(account.facts) for _ in range(runs)]
    for step in scenario.steps:
        clamps: list[list[Clamp]] = [[] for _ in range(runs)]
        for f, c in zip(facts, clamps, strict=True):
            _carry(f, rs)
            _apply(step.changes, f, rs, draw, c)
        # The same computed facts (potential, score, capacity, review dates) as evaluate and portfolio;
        # evaluate_many copies the facts, so each decision keeps its own while the run moves on.
        accounts = [Account(account.id, scenario_facts(f, rs, settings), account.name, scenario.file) for f in facts]
        # each period is reviewed at its end: dates (days since the last review, months in stage) count to it
        decisions = evaluator.evaluate_many(accounts, as_of=period_end(step.label))
        yield [
            StepResult(step.label, step.events, d, step.refuse_move, _advance(f, d, step, scenario), tuple(c))
            for f, d, c in zip(facts, decisions, clamps, strict=True)
        ]


def _portfolio_steps(scenario: Scenario, draw: Draw) -> Iterator[PortfolioStepResult]:
    """Step by step: apply the changes to the rows, review the portfolio, take every account's stage move."""
    rs = scenario.ruleset
    settings = load_settings(rs.directory)
    structure_rules = load_structure_rules(rs.directory)
    rows = scenario.portfolio
    facts = {r.account: dict(r.facts) for r in rows}
    for step in scenario.steps:
        clamps: list[Clamp] = []
        for r in rows:
            _carry(facts[r.account], rs)
            _apply(step.changes, facts[r.account], rs, draw, clamps, True, r.account)
        for acc, changes in step.account_changes:
            _apply(changes, facts[acc], rs, draw, clamps, True, acc)
        current = [AccountRow(r.account, dict(facts[r.account]), r.span) for r in rows]
        # A scenario's portfolio is small and reviewed once per step and run: durable_rules, as for one account.
        rv = review(
            current, rs, settings, structure_rules=structure_rules, as_of=period_end(step.label), engine="durable"
        )
        decisions = {a.decision.account: a.decision for a in rv.accounts}
        moves: dict[str, str] = {}
        stages: dict[str, str] = {}
        for r in rows:
            d, f = decisions.get(r.account), facts[r.account]
            if d is None or "stage" not in f:
                continue
            moves[r.account] = d.move
            stages[r.account] = _advance(f, d, step, scenario)
        keys = tuple(r.account for r in rows if r.account in decisions and decisions[r.account].key_account)
        yield PortfolioStepResult(
            step.label,
            step.events,
            rv.structure,
            dict(rv.portfolio_facts),
            keys,
            moves,
            stages,
            step.refuse_move,
            tuple(clamps),
        )


def _advance(facts: dict[str, Any], decision: Decision, step: Step, scenario: Scenario) -> str:
    """The stage at the end of the step; it becomes the state of the next step, with the date it began."""
    before = facts["stage"]
    end: str = before if step.refuse_move or decision.stage_recommended is None else decision.stage_recommended
    facts["stage"] = end
    # The new stage begins at the end of the period that moved it; months_in_stage is computed from it.
    moved_on = period_end(step.label)
    if end != before and moved_on is not None and "stage_since" in scenario.ruleset.facts:
        facts["stage_since"] = moved_on
    return end


def _carry(facts: dict[str, Any], ruleset: RuleSet) -> None:
    """Start a period: the facts it inherits take the last period's values (see CARRIED)."""
    for fact, source in CARRIED:
        if fact in ruleset.facts and source in facts:
            facts[fact] = facts[source]


def _clamp(fact: Fact, value: Any) -> tuple[Any, bool]:
    """The value kept within the fact's declared range, and whether it had to stop at a bound."""
    # Documented choice: a change may not push a fact outside its declared range, it stops at the bound.
    # Random draws (a normal around a score) would otherwise abort Monte Carlo runs at random.
    if fact.type == "integer":
        value = round(value)  # an int, from a float or a Decimal
    if fact.range:
        lo, hi = fact.range
        if value < lo or value > hi:
            bound = lo if value < lo else hi
            return (int(bound) if fact.type == "integer" else bound), True
    return value, False


def _apply(
    changes: Sequence[Change],
    facts: dict[str, Any],
    ruleset: RuleSet,
    draw: Draw,
    clamps: list[Clamp],
    table: bool = False,
    account: str | None = None,
) -> None:
    """Apply the changes in order to the facts, recording every change stopped at a bound."""
    # table: the facts come from an account table, where numbers are Decimals (the ABC classes need them exact).
    for ch in changes:
        amount = draw(ch.value) if isinstance(ch.value, Distribution) else ch.value
        fact = ruleset.facts[ch.fact]
        numeric = fact.type in ("number", "integer")
        if table and numeric and ch.op != "set":
            amount = Decimal(str(amount))
            current = facts[ch.fact] if isinstance(facts[ch.fact], Decimal) else Decimal(str(facts[ch.fact]))
            value = current + amount if ch.op == "add" else current * amount
        elif ch.op == "set":
            value = amount
        elif ch.op == "add":
            value = facts[ch.fact] + amount
        else:
            value = facts[ch.fact] * amount
        if numeric:
            value, clamped = _clamp(fact, value)
            if clamped:
                clamps.append(Clamp(ch.fact, value, account))
            if table and fact.type == "number" and not isinstance(value, Decimal):
                value = Decimal(str(value))
        facts[ch.fact] = value
