"""Portfolio-level rules: which organisational structure (base or advanced) to run KAM with.

The structure rules are a rule set of their own, in the ``portfolio/`` folder inside the rules
folder (a ``facts.yaml`` with the ``portfolio_*`` facts and ``structure.yaml``), loaded with the
same loader as the account rules. They are evaluated once per review, on the portfolio facts
only, and never see an account; the account rules know nothing of them.

The portfolio facts, computed from the accounts' decisions:

* ``portfolio_key_accounts``: how many accounts are key accounts;
* ``portfolio_key_revenue_share``: the key accounts' share of the positive revenue;
* ``portfolio_advanced_stage_accounts``: key accounts recommended partnership-KAM or synergistic-KAM;
* ``portfolio_regions``: how many distinct sales regions (the accounts' ``region``) the key
  accounts are in; absent when no key account names its region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kamrules.engine import Decision, Evaluator, Reason
from kamrules.lang import Account, RuleSet, load_ruleset

__all__ = ["PORTFOLIO_RULES", "StructureDecision", "load_structure_rules", "portfolio_facts", "recommend_structure"]

# The folder of the portfolio rule set, inside a rules folder.
PORTFOLIO_RULES = "portfolio"
ADVANCED_STAGES = ("partnership-KAM", "synergistic-KAM")
# What the structure rule set's evaluation is called in the decision log; it is no account.
SUBJECT = "portfolio"


@dataclass(frozen=True)
class StructureDecision:
    """The structure the portfolio rules recommend, the rule that decided it and why."""

    # The structure rule set's evaluation of the portfolio facts, as the decision log records it;
    # None when the rules folder has no portfolio rules.
    decision: Decision | None

    @property
    def structure(self) -> str | None:
        """The recommended structure (base or advanced), or None when no structure rule fired."""
        return self.decision.structure if self.decision else None

    @property
    def structure_rule(self) -> str | None:
        """The id of the rule that decided the structure."""
        return self.decision.structure_rule if self.decision else None

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """The fired structure rules, the winner first."""
        return tuple(r for r in self.decision.reasons if r.rule.structure) if self.decision else ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: recommended structure, rule and reasons."""
        return {
            "recommended": self.structure,
            "rule": self.structure_rule,
            "reasons": [r.to_dict() for r in self.reasons],
        }


def load_structure_rules(rules_dir: str | Path) -> RuleSet | None:
    """The portfolio rule set of a rules folder (its ``portfolio/`` folder), or None when it has none."""
    folder = Path(rules_dir) / PORTFOLIO_RULES
    return load_ruleset(folder) if folder.is_dir() else None


def portfolio_facts(decisions: Sequence[Decision], rules: RuleSet | None) -> dict[str, Any]:
    """The portfolio_* facts of the accounts' decisions, only those the portfolio rules declare."""
    keys = [d for d in decisions if d.key_account]
    revenues = (d.given.get("revenue") for d in decisions)
    return facts_of_keys(keys, sum(r for r in revenues if isinstance(r, (int, float)) and r > 0), rules)


def facts_of_keys(keys: Sequence[Decision], total: float, rules: RuleSet | None) -> dict[str, Any]:
    """The portfolio_* facts from the key accounts' decisions and the sum of all positive revenues, in account order."""
    facts: dict[str, Any] = {
        "portfolio_key_accounts": len(keys),
        "portfolio_advanced_stage_accounts": sum(1 for d in keys if d.stage_recommended in ADVANCED_STAGES),
    }
    # Summed in account order, as the account list would be.
    if total > 0:
        key_total = sum(r for r in (d.given.get("revenue") for d in keys) if isinstance(r, (int, float)) and r > 0)
        facts["portfolio_key_revenue_share"] = round(key_total / total, 6)
    regions = {d.given["region"] for d in keys if isinstance(d.given.get("region"), str)}
    if regions:
        facts["portfolio_regions"] = len(regions)
    declared = rules.facts if rules else {}
    return {k: v for k, v in facts.items() if k in declared}


def recommend_structure(facts: dict[str, Any], rules: RuleSet | None) -> StructureDecision:
    """Evaluate the portfolio rules on the portfolio facts."""
    if rules is None:
        return StructureDecision(None)
    with Evaluator(rules) as ev:
        return StructureDecision(ev.evaluate(Account(SUBJECT, facts)))
