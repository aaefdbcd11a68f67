"""What a rule change changes on real accounts: a portfolio reviewed, or the decision log's latest decisions, twice.

Each account is decided by the old and by the new rules; every difference in its designation, stage,
actions (and the portfolio's structure) is listed with the rule responsible: a rule of the diff whose
firing or text differs on that account, else the rule that decided the new (or old) outcome. Accounts
are counted, not decisions: the log's latest decision per account stands for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kamrules.audit.log import list_decisions
from kamrules.audit.replay import account_of, recorded_as_of
from kamrules.engine import Decision, Evaluator
from kamrules.inputs import read_review_input
from kamrules.kam import load_settings, load_structure_rules
from kamrules.kam.engines import CROSS_CHECK
from kamrules.kam.review import AccountResult, review
from kamrules.lang import RuleSet
from kamrules.lang.diff import RulesDiff

ASPECTS = ("designation", "stage", "actions", "structure")
PORTFOLIO = "portfolio"  # the subject of a structure change: the portfolio as a whole


@dataclass(frozen=True)
class Impact:
    """One outcome of one account that the new rules change."""

    account: str
    aspect: str  # designation | stage | actions | structure
    old: Any
    new: Any
    rule: str | None  # the rule responsible


@dataclass(frozen=True)
class ImpactReport:
    """The accounts a rule change affects, out of those compared."""

    source: str  # the portfolio file or the decision log
    accounts: int  # accounts compared
    impacts: tuple[Impact, ...]
    skipped: tuple[str, ...] = ()  # accounts whose recorded facts the new (or old) schema rejects

    @property
    def affected(self) -> int:
        """How many accounts (the portfolio counting as none) have at least one outcome changed."""
        return len({i.account for i in self.impacts if i.aspect != "structure"})

    def count(self, aspect: str) -> int:
        """How many accounts have this outcome changed."""
        return len({i.account for i in self.impacts if i.aspect == aspect})


def compare(old: Decision, new: Decision, diff: RulesDiff) -> list[Impact]:
    """The outcomes of one account that differ between its old and new decision."""
    out = []
    blame = _blame(old, new, diff)
    if bool(old.key_account) != bool(new.key_account):
        deciding = new.derived_by.get("key_account") if new.key_account else old.derived_by.get("key_account")
        out.append(Impact(new.account, "designation", old.key_account, new.key_account, blame or deciding))
    if old.stage_recommended != new.stage_recommended:
        deciding = new.stage_rule or old.stage_rule
        out.append(Impact(new.account, "stage", old.stage_recommended, new.stage_recommended, blame or deciding))
    before, after = _actions(old), _actions(new)
    if set(before) != set(after):
        deciding = next((r for a in set(after) - set(before) for r in after[a]), None)
        deciding = deciding or next((r for a in set(before) - set(after) for r in before[a]), None)
        out.append(Impact(new.account, "actions", tuple(sorted(before)), tuple(sorted(after)), blame or deciding))
    return out


def _actions(d: Decision) -> dict[str, list[str]]:
    return {a["id"]: list(a["rules"]) for a in d.actions}


def _blame(old: Decision, new: Decision, diff: RulesDiff) -> str | None:
    """The first rule of the diff that fires on one side only, or fires and was changed."""
    before, after = set(old.fired), set(new.fired)
    for change in diff.rules:
        if change.id in before ^ after or (change.kind == "changed" and change.id in before | after):
            return change.id
    return None


def portfolio_impact(
    file: str, diff: RulesDiff, as_of: dt.date | None = None, engine: str = "columnar", cross_check: int = CROSS_CHECK
) -> ImpactReport:
    """Review the portfolio table under the old and the new rules, and compare account by account."""
    rows, _, _ = read_review_input(file, False, None, None, None)
    sides = [_reviewed(rows, rs, as_of, engine, cross_check) for rs in (diff.old, diff.new)]
    (old, old_structure), (new, new_structure) = sides
    impacts = [i for acc, d in new.items() if acc in old for i in compare(old[acc], d, diff)]
    if old_structure != new_structure:
        rule = new_structure[1] or old_structure[1]
        impacts.append(Impact(PORTFOLIO, "structure", old_structure[0], new_structure[0], rule))
    return ImpactReport(file, len(new), tuple(impacts))


def _reviewed(
    rows: Sequence[Any], rs: RuleSet, as_of: dt.date | None, engine: str, cross_check: int
) -> tuple[dict[str, Decision], Any]:
    """Full decisions by account and (structure, rule) of one review."""
    decisions: dict[str, Decision] = {}

    def keep(batch: list[AccountResult]) -> None:
        decisions.update((r.decision.account, r.decision) for r in batch)

    rv = review(
        rows,
        rs,
        load_settings(rs.directory),
        on_batch=keep,
        structure_rules=load_structure_rules(rs.directory),
        as_of=as_of,
        engine=engine,
        cross_check=cross_check,
    )
    return decisions, (rv.structure.structure, rv.structure.structure_rule)


def audit_impact(path: Path, diff: RulesDiff) -> ImpactReport:
    """Re-decide the latest recorded decision of each account under the old and the new rules."""
    latest = {e.account: e for e in list_decisions(path) if e.record.kind == "account"}
    runnable, skipped = [], []
    for acc, e in latest.items():
        old_acc, p_old = account_of(e, diff.old)
        new_acc, p_new = account_of(e, diff.new)
        if p_old or p_new:
            skipped.append(acc)
        else:
            runnable.append((e, old_acc, new_acc))
    impacts: list[Impact] = []
    for day in sorted({recorded_as_of(e) for e, _, _ in runnable}, key=lambda d: d or dt.date.min):
        group = [(o, n) for e, o, n in runnable if recorded_as_of(e) == day]
        old = _decide(diff.old, [o for o, _ in group], day)
        new = _decide(diff.new, [n for _, n in group], day)
        for a, b in zip(old, new, strict=True):
            impacts.extend(compare(a, b, diff))
    return ImpactReport(str(path), len(runnable), tuple(impacts), tuple(skipped))


def _decide(rs: RuleSet, accounts: Iterable[Any], day: dt.date | None) -> list[Decision]:
    with Evaluator(rs, trace="fired", as_of=day) as ev:
        return ev.evaluate_many(list(accounts))
