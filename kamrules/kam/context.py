"""One account evaluated alone: the same computed facts as the portfolio review, and its selection rank.

``evaluate`` and ``explain`` call ``prepare`` so that one account gets the same potential,
selection score, capacity and review dates as in the portfolio review. Its ``selection_rank``
comes from the account file, or from a ``--portfolio`` table (the rank it would take among that
table's eligible accounts, by selection score); with neither, the note ``no-selection-rank``
says that the designation rule cannot select it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kamrules.engine import Evaluator
from kamrules.errors import InvalidInput
from kamrules.kam import selection as sel
from kamrules.kam.prepare import prepare as prepare_rows
from kamrules.kam.settings import Settings
from kamrules.lang import Account, RuleSet

if TYPE_CHECKING:
    from kamrules.inputs.tables import AccountRow

__all__ = ["Ready", "period_end", "prepare", "scenario_facts"]

Ready = tuple[Account, tuple[str, ...]]  # an account with its computed facts, and the note codes about them


def prepare(
    ev: Evaluator,
    accounts: Sequence[Account],
    settings: Settings,
    portfolio: Sequence[AccountRow] | None = None,
) -> list[Ready]:
    """Each account with kamrules' computed facts and its rank, and the note codes to show beside it."""
    rs = ev.ruleset
    context: list[Account] = []
    if portfolio is not None:
        context = [p.account for p in prepare_rows(portfolio, rs, settings)[0]]
    out: list[Ready] = []
    for a in accounts:
        facts, notes = sel.enrich(a.facts, rs, settings.selection, settings.weights)
        acc = replace(a, facts=facts)
        extra: list[str] = []
        if "selection_rank" in rs.facts and "selection_rank" not in facts:
            if portfolio is not None:
                rank, _n = sel.rank_in_context(acc, context, ev)
                if rank is not None:
                    acc = replace(acc, facts={**facts, "selection_rank": rank})
                    extra.append("rank-from-portfolio")
                else:
                    extra.append("not-eligible-in-portfolio")
            else:
                extra.append("no-selection-rank")
        out.append((acc, notes + tuple(extra)))
    return out


def period_end(label: str) -> dt.date | None:
    """The last day of a period label (2027Q1, 2027-03, 2027), or None when the label is no period."""
    from kamrules.inputs.invoices import parse_period  # scenarios only: evaluating an account reads no invoices

    try:
        return parse_period(label).end
    except InvalidInput:
        return None


def scenario_facts(facts: dict[str, Any], ruleset: RuleSet, settings: Settings) -> dict[str, Any]:
    """A scenario account's facts for one period, with kamrules' computed facts (potential, score, capacity)."""
    return sel.enrich(facts, ruleset, settings.selection, settings.weights)[0]
