"""The review of a period of invoice totals against the previous period, on columns, as kamrules/kam/review.py makes it.

Both periods go through kam/frame_review.py (each pass with its durable_rules sample): the previous
period first, without a previous designation of its own; its key accounts are the current period's
``previous_key_account`` (new / kept / lost, continuity in the selection score). Each current result
shown carries its previous decision; an account key in the previous period but absent now is lost,
decided without facts as the row path decides it. ``review_periods`` returns None for totals the
column path cannot take exactly; the caller then reviews the rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace

import polars as pl

from kamrules.engine import Decision, Evaluator
from kamrules.engine.columnar import RulePlan
from kamrules.engine.compute import review_date
from kamrules.inputs.frames import AccountFrame
from kamrules.kam.engines import CROSS_CHECK, SEED
from kamrules.kam.frame_facts import NOTE, PREVIOUS, ROW_NOTES, FrameFacts, engine_facts
from kamrules.kam.frame_review import ColumnReview, _table, review_facts
from kamrules.kam.review import AccountResult
from kamrules.kam.scale import decision_frame
from kamrules.kam.settings import Settings
from kamrules.lang import Account, RuleSet

__all__ = ["review_periods"]


def review_periods(
    current: AccountFrame,
    previous: AccountFrame | None,
    ruleset: RuleSet,
    settings: Settings,
    structure_rules: RuleSet | None = None,
    as_of: dt.date | None = None,
    cross_check: int = CROSS_CHECK,
    seed: int = SEED,
) -> ColumnReview | None:
    """The review of this period's totals against the previous period's (None: no lines then), or None."""
    day = as_of or review_date()
    before = None
    if previous is not None:
        ffb = _facts(previous, ruleset, settings)
        if ffb is None:
            return None
        before = review_facts(ffb, ruleset, settings, None, day, cross_check, seed).review
        assert before.table is not None
        was = before.table.filter("key_account")["account"]
        accounts = current.accounts.with_columns(pl.col("account").is_in(was.implode()).alias("previous_key_account"))
        current = replace(current, accounts=accounts)
    ff = _facts(current, ruleset, settings)
    if ff is None:
        return None
    done = review_facts(ff, ruleset, settings, structure_rules, day, cross_check, seed)
    if before is None:
        return done
    rv, earlier = done.review, before
    assert rv.table is not None and earlier.table is not None and rv.resolve is not None
    known = set(earlier.table["account"].to_list())

    def previous_of(ids: Sequence[str]) -> dict[str, Decision]:
        return {r.decision.account: r.decision for r in earlier.results_of([i for i in ids if i in known])}

    def with_previous(results: list[AccountResult]) -> list[AccountResult]:
        # The row path's Prepared keeps the row's own previous_key_account (None for invoice totals).
        pd = previous_of([r.decision.account for r in results])
        return [
            replace(
                r,
                prepared=r.prepared and replace(r.prepared, previous_key=None),
                previous_decision=pd.get(r.decision.account),
            )
            for r in results
        ]

    lost = earlier.table.filter(pl.col("key_account") & ~pl.col("account").is_in(rv.table["account"].implode()))
    gone, frame, rows = _absent(ruleset, ff, lost["account"].to_list(), previous_of, day, cross_check)
    if any(r.decision.key_account for r in gone):
        return None  # a rule set that designates an account without facts: the row path says what it is
    by_id = {r.decision.account: r for r in gone}
    base = rv.resolve

    def resolve(ids: list[str]) -> list[AccountResult]:
        made = {r.decision.account: r for r in with_previous(base([i for i in ids if i not in by_id]))}
        return [by_id[i] if i in by_id else made[i] for i in ids]

    table = pl.concat([rv.table, rows], how="vertical_relaxed") if gone else rv.table
    decisions = pl.concat([done.decisions, frame], how="vertical_relaxed") if gone else done.decisions
    rv = replace(rv, accounts=with_previous(rv.accounts), table=table, resolve=resolve)
    return ColumnReview(rv, decisions)


def _facts(frame: AccountFrame, ruleset: RuleSet, settings: Settings) -> FrameFacts | None:
    """The facts of invoice totals on columns, each row's notes first; None where they are not the row path's."""
    rows = frame.given_rows or []
    observed = {r.observed for r in rows}
    if len(observed) > 1:
        return None
    numbers = {n for n, f in ruleset.facts.items() if f.type == "number"}
    if any(type(v) is int for r in rows for k, v in r.facts.items() if k in numbers):
        return None  # the row path hands an int on as it is; a number column would make it a float
    ff = engine_facts(frame, ruleset, settings, next(iter(observed), frozenset()))
    if ff is None:
        return None
    notes = pl.Series(ROW_NOTES, [list(r.notes) for r in rows], dtype=pl.List(pl.String))
    return replace(ff, facts=ff.facts.with_columns(notes))


def _absent(
    ruleset: RuleSet,
    ff: FrameFacts,
    ids: list[str],
    previous_of: Callable[[Sequence[str]], dict[str, Decision]],
    day: dt.date,
    cross_check: int,
) -> tuple[list[AccountResult], pl.DataFrame, pl.DataFrame]:
    """The accounts key in the previous period and absent now: decided without facts, their decision frame and rows."""
    if not ids:
        return [], ff.facts.clear(), ff.facts.clear()
    pd = previous_of(ids)
    n = len(ids)
    facts = ff.facts.clear(n).with_columns(
        pl.Series("account", ids, dtype=pl.String),
        pl.Series("name", [pd[i].name for i in ids], dtype=pl.String),
        pl.Series("origin", [pd[i].origin for i in ids], dtype=pl.String),
        pl.repeat(True, n, eager=True).alias(PREVIOUS),
        pl.repeat(None, n, dtype=pl.String, eager=True).alias(NOTE),
        pl.Series(ROW_NOTES, [[] for _ in ids], dtype=pl.List(pl.String)),
    )
    frame = decision_frame(ruleset, facts, day, cross_check)
    rows = _table(ruleset, replace(ff, potential_confidence=None), facts, frame)
    accounts = [Account(i, {}, pd[i].name, pd[i].origin) for i in ids]
    with Evaluator(ruleset, as_of=day) as ev:  # whole decisions, as the row path keeps a lost one
        decisions = ev.evaluate_many(accounts, firings=RulePlan(ruleset, day).firings(facts))
    return [AccountResult(d, None, True, pd[d.account]) for d in decisions], frame, rows
