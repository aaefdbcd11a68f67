"""Account rows → validated engine facts, with ABC classes, future potential, selection score and review dates.

The first steps of the portfolio review (kamrules/kam/review.py): nothing out of schema reaches
the engine, and every problem of every row is reported together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from kamrules.engine.compute import with_computed
from kamrules.errors import InvalidInput, Problem
from kamrules.kam import selection as sel
from kamrules.kam.potential import Potential, estimate
from kamrules.kam.settings import Settings
from kamrules.lang import Account, RuleSet, fact_value_problem, observation_problem

if TYPE_CHECKING:
    from kamrules.inputs.tables import AccountRow
    from kamrules.kam.abc import AbcRow
    from kamrules.kam.concentration import Concentration

__all__ = ["METRICS", "Prepared", "prepare"]

METRICS = ("revenue", "volume", "purchases", "margin")


@dataclass(frozen=True)
class Prepared:
    """One account ready for the engine: its facts (ABC and potential included) and what they came from."""

    account: Account
    abc: dict[str, AbcRow]
    potential: Potential | None
    potential_given: bool
    previous_key: bool | None
    notes: tuple[str, ...] = ()  # note codes about how its facts were computed (render/selection.py words them)


class _Row(NamedTuple):
    """A table row split into its name, previous designation, table values and engine facts."""

    # A NamedTuple, not a frozen dataclass: 4x cheaper to create at import, where evaluating one account pays it.
    row: AccountRow
    name: str | None
    previous_key: bool | None
    values: dict[str, Any]
    facts: dict[str, Any]


def prepare(
    rows: Sequence[AccountRow], ruleset: RuleSet, settings: Settings
) -> tuple[list[Prepared], list[str], dict[str, Concentration]]:
    """Validated facts, ABC rows and potential per account, the metrics analysed and their concentration.

    Raises InvalidInput with every bad value of every row.
    """
    # Imported here, not at the top: they load numpy, which evaluating one account does not need.
    from kamrules.kam.abc import abc_classes
    from kamrules.kam.concentration import concentration

    problems: list[Problem] = []
    unknown = _unknown_columns(rows, ruleset, problems)
    split = [_split(row, unknown, ruleset, problems) for row in rows]
    if problems:
        raise InvalidInput(problems)
    metrics = [m for m in METRICS if f"abc_{m}" in ruleset.facts and any(_is_amount(r.values.get(m)) for r in split)]
    abc: dict[str, dict[str, AbcRow]] = {}
    conc: dict[str, Concentration] = {}
    for m in metrics:
        values = {r.row.account: Decimal(r.values[m]) for r in split if _is_amount(r.values.get(m))}
        abc[m] = {a.account: a for a in abc_classes(values, settings.a_cut, settings.b_cut)}
        conc[m] = concentration(values)
    out = [_with_abc_and_potential(r, abc, ruleset, settings, problems) for r in split]
    if problems:
        raise InvalidInput(problems)
    return out, metrics, conc


def _is_amount(v: Any) -> bool:
    return isinstance(v, (Decimal, int)) and not isinstance(v, bool)


def _unknown_columns(rows: Sequence[AccountRow], ruleset: RuleSet, problems: list[Problem]) -> list[str]:
    """The columns that are no fact, each reported once at its header, not once per row."""
    from kamrules.inputs.tables import NOT_FACTS  # the table readers: evaluating one account reads no table

    unknown = sorted({k for row in rows for k in row.facts} - set(ruleset.facts) - set(NOT_FACTS))
    for k in unknown:
        first = next(row for row in rows if k in row.facts)
        header = first.cell_span(k)._replace(line=1)
        p = fact_value_problem(ruleset, k, None, header, header, "the table")
        if p is not None:
            problems.append(replace(p, message=f"column '{k}' is not a fact"))
    return unknown


def _split(row: AccountRow, unknown: list[str], ruleset: RuleSet, problems: list[Problem]) -> _Row:
    """Name, previous designation and valid engine facts of one row; its bad values go to ``problems``."""
    values = {k: v for k, v in row.facts.items() if k not in unknown}
    name = values.pop("name", None)
    prev = values.pop("previous_key_account", None)
    if name is not None and not isinstance(name, str):
        name = str(name)
    if prev is not None and not isinstance(prev, bool):
        problems.append(
            Problem(
                row.span,
                f"account '{row.account}': previous_key_account must be true or false",
                expected="true or false",
                found=repr(prev),
                code="bad-value",
            )
        )
        prev = None
    facts = {}
    for k, v in values.items():
        ev = _engine_value(ruleset, k, v)
        ctx = f"account '{row.account}'"
        if k in row.observed:  # computed by kamrules: an observation, never rejected by a range
            p = observation_problem(ruleset, k, ev, row.span, ctx)
        else:
            p = fact_value_problem(ruleset, k, ev, row.span, row.span, ctx)
        if p:
            problems.append(replace(p, span=row.cell_span(k)))  # the cell's position only when needed
        else:
            facts[k] = ev
    return _Row(row, name, prev, values, facts)


def _engine_value(ruleset: RuleSet, fname: str, value: Any) -> Any:
    fact = ruleset.facts.get(fname)
    if isinstance(value, Decimal) and fact is not None:
        if fact.type == "integer" and value == value.to_integral_value():
            return int(value)
        return float(value)
    return value


def _with_abc_and_potential(
    r: _Row,
    abc: dict[str, dict[str, AbcRow]],
    ruleset: RuleSet,
    settings: Settings,
    problems: list[Problem],
) -> Prepared:
    """The row's facts completed with its ABC results, potential, selection score and review dates."""
    account = r.row.account
    rows_abc = {m: by_account[account] for m, by_account in abc.items() if account in by_account}
    abc_facts: dict[str, Any] = {}
    for m, a in rows_abc.items():
        # The whole ABC result becomes facts the rules can use, not just the class.
        abc_facts.update(
            {
                f"abc_{m}": a.cls,
                f"abc_{m}_rank": a.rank,
                f"abc_{m}_share": float(a.share),
                f"abc_{m}_cumulative_share": float(a.cumulative_share),
            }
        )
    facts = r.facts
    for k, v in abc_facts.items():
        if k in ruleset.facts:
            facts.setdefault(k, v)
    pot, given = None, "potential_score" in facts
    if "potential_score" in ruleset.facts:
        pot = estimate(with_computed(ruleset, facts), settings.weights)
    if r.previous_key is not None and "key_account_before" in ruleset.facts:
        facts.setdefault("key_account_before", r.previous_key)  # continuity in the selection score
    # the one estimator, score, capacity and review dates, as evaluate and scenarios compute them
    facts, notes = sel.enrich(facts, ruleset, settings.selection, settings.weights, pot)
    computed = [k for k in abc_facts if k in facts] + (["potential_score"] if "potential_score" in facts else [])
    for k in computed:
        p = observation_problem(ruleset, k, facts[k], r.row.span, f"account '{account}'")
        if p:
            problems.append(p)
    account_ = Account(account, facts, r.name, str(r.row.span))
    return Prepared(account_, rows_abc, pot, given, r.previous_key, tuple(r.row.notes) + notes)
