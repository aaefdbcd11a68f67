"""Key-account selection: the facts the rules need to choose the few accounts the company can serve.

Designation is eligibility by rules plus selection within a capacity (docs/domain.md):

* the rules derive ``eligible`` (and its exclusions);
* kamrules gives every account the facts the designation rule compares: ``selection_score`` (a
  documented weighted mean, below), ``key_account_capacity`` (``kam_managers x
  accounts_per_manager`` from rules/settings.yaml) and, for eligible accounts of a portfolio,
  ``selection_rank`` (1 = best score among the eligible);
* the designation rule says key account when eligible and ``selection_rank lte
  key_account_capacity``: the rules decide, and the reasons show rank, score and capacity.

Selection score, each component on 0..1 (a missing input counts 0: unknown strength is not
strength), ``score = sum(w_i * c_i) / sum(w_i)``:

* ``abc_revenue``, ``abc_margin``, ``abc_volume``, ``abc_purchases``: class A = 1, B = 0.5, C = 0;
* ``potential``: potential_score x potential_confidence (an uncertain potential counts for less);
* ``relative_strength``: relative_strength / 10 (the selection matrix's strength axis);
* ``share_of_wallet``: share_of_wallet (relationship depth);
* ``continuity``: 1 when the account was a key account in the previous period (KAM is a
  medium-to-long-term relationship: a selection that changes every quarter is not one).

Ranks: by score, largest first, then by revenue share; accounts tied on both share the *last*
position of their tie (1, 3, 3), so a tie across the capacity never depends on account ids and
never designates more than the capacity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kamrules.engine import Evaluator
from kamrules.engine.compute import with_computed
from kamrules.kam.engines import PortfolioRules
from kamrules.kam.potential import Potential, estimate, fold
from kamrules.lang import Account, Problems, RuleSet, YNode, is_finite_number

__all__ = [
    "COMPONENTS",
    "DEFAULT_SCORE_WEIGHTS",
    "SelectionSettings",
    "enrich",
    "fold",
    "parse_settings",
    "rank_eligible",
    "score_components",
    "selection_detail",
    "selection_score",
    "summary",
    "summary_of",
    "with_continuity",
]

DEFAULT_SCORE_WEIGHTS: dict[str, float] = {
    "abc_revenue": 0.15,
    "abc_margin": 0.15,
    "abc_volume": 0.05,
    "abc_purchases": 0.05,
    "potential": 0.20,
    "relative_strength": 0.15,
    "share_of_wallet": 0.10,
    "continuity": 0.15,
}
_CLASS_POINTS = {"A": 1.0, "B": 0.5, "C": 0.0}
COMPONENTS = tuple(DEFAULT_SCORE_WEIGHTS)
"""The score's components, in the order their weighted terms are added."""


@dataclass(frozen=True)
class SelectionSettings:
    """Capacity, score weights, the review interval and what the review warns about."""

    kam_managers: int = 4
    accounts_per_manager: int = 6
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SCORE_WEIGHTS))
    next_in_line: int = 10
    warn_ratio: float = 2.0
    review_interval_days: int = 180

    @property
    def capacity(self) -> int:
        """How many key accounts the organisation can serve."""
        return self.kam_managers * self.accounts_per_manager

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kam_managers": self.kam_managers,
            "accounts_per_manager": self.accounts_per_manager,
            "capacity": self.capacity,
            "score": dict(self.weights),
            "next_in_line": self.next_in_line,
            "warn_ratio": self.warn_ratio,
            "review_interval_days": self.review_interval_days,
        }


_INT_KEYS = ("kam_managers", "accounts_per_manager", "next_in_line")


def parse_settings(root: YNode, col: Problems) -> SelectionSettings:
    """The ``selection:`` and ``review:`` sections of settings.yaml (problems go to ``col``)."""
    s = SelectionSettings()
    values: dict[str, Any] = {}
    node = root.get("selection")
    if node is not None and col.expect_kind(node, "map", "'selection'"):
        col.unknown_keys(node, set(_INT_KEYS) | {"score", "warn_ratio"}, "'selection'")
        for key in (*_INT_KEYS, "warn_ratio"):
            n = node.get(key)
            if n is not None and _number(n, f"selection '{key}'", col, integer=key in _INT_KEYS):
                values[key] = n.value
        score = node.get("score")
        if score is not None and col.expect_kind(score, "map", "'selection.score'"):
            col.unknown_keys(score, set(DEFAULT_SCORE_WEIGHTS), "'selection.score'")
            weights = dict(DEFAULT_SCORE_WEIGHTS)
            for key, n in score.items():
                if key in weights and _number(n, f"score weight '{key}'", col):
                    weights[key] = float(n.value)
            if sum(weights.values()) <= 0:
                col.add(score.span, "every score weight is 0", expected="at least one weight above 0", code="settings")
            values["weights"] = weights
    rev = root.get("review")
    if rev is not None and col.expect_kind(rev, "map", "'review'"):
        col.unknown_keys(rev, {"interval_days"}, "'review'")
        n = rev.get("interval_days")
        if n is not None and _number(n, "review 'interval_days'", col, integer=True):
            values["review_interval_days"] = n.value
    return replace(s, **values)


def _number(n: YNode, what: str, col: Problems, integer: bool = False) -> bool:
    ok = n.kind == "scalar" and is_finite_number(n.value) and n.value >= 0
    if ok and integer:
        ok = isinstance(n.value, int)
    if not ok:
        expected = "an integer >= 0" if integer else "a number >= 0"
        col.add(n.span, f"{what} must be {expected}", expected=expected, found=n.describe(), code="settings")
    return ok


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def score_components(facts: Mapping[str, Any]) -> dict[str, float]:
    """Every score component on 0..1; a missing input is 0."""
    out = {m: _CLASS_POINTS.get(str(facts.get(m)), 0.0) for m in ("abc_revenue", "abc_margin", "abc_volume")}
    out["abc_purchases"] = _CLASS_POINTS.get(str(facts.get("abc_purchases")), 0.0)
    pot, conf = _num(facts.get("potential_score")), _num(facts.get("potential_confidence"))
    out["potential"] = 0.0 if pot is None or conf is None else max(0.0, min(1.0, pot * conf))
    rs = _num(facts.get("relative_strength"))
    out["relative_strength"] = 0.0 if rs is None else max(0.0, min(1.0, rs / 10.0))
    sw = _num(facts.get("share_of_wallet"))
    out["share_of_wallet"] = 0.0 if sw is None else max(0.0, min(1.0, sw))
    out["continuity"] = 1.0 if facts.get("key_account_before") is True else 0.0
    return out


def selection_score(facts: Mapping[str, Any], weights: Mapping[str, float] | None = None) -> float:
    """The weighted mean of the score components, rounded to 6 decimals (the rules read this number)."""
    w = dict(DEFAULT_SCORE_WEIGHTS if weights is None else weights)
    total = fold(w.values())
    comps = score_components(facts)
    return round(fold(w.get(k, 0.0) * comps[k] for k in COMPONENTS) / total, 6) if total > 0 else 0.0


def enrich(
    facts: Mapping[str, Any],
    ruleset: RuleSet,
    selection: SelectionSettings,
    potential_weights: Mapping[str, float] | None,
    potential: Potential | None = None,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The account's facts plus what kamrules computes for every command alike, and note codes.

    The one potential estimator, the selection score, the capacity and the review interval are
    added when the schema declares them and the account does not give them (dates are computed
    facts: the engine counts them to the review date). ``potential``: the estimate already made on
    these facts, if any.
    """
    out = dict(facts)
    notes: list[str] = []
    declared = ruleset.facts
    if "potential_score" in declared and "potential_score" not in out:
        pot = potential or estimate(with_computed(ruleset, out), potential_weights)
        if pot.score is not None:
            out["potential_score"] = pot.score
            if "potential_confidence" in declared:
                out.setdefault("potential_confidence", pot.confidence)
        else:
            notes.append("potential-unknown")
    elif "potential_confidence" in declared and "potential_confidence" not in out:
        notes.append("potential-without-confidence")
    if "selection_score" in declared and "selection_score" not in out:
        out["selection_score"] = selection_score(out, selection.weights)
    if "key_account_capacity" in declared and "key_account_capacity" not in out:
        out["key_account_capacity"] = selection.capacity
    if "review_interval_days" in declared and "review_interval_days" not in out:
        out["review_interval_days"] = selection.review_interval_days
    return out, tuple(notes)


def selection_detail(given: Mapping[str, Any], selection: SelectionSettings) -> dict[str, Any]:
    """Rank, score, capacity and each weighted score component of one account (what its designation rests on)."""
    w = selection.weights
    total = sum(w.values()) or 1.0
    return {
        "rank": given.get("selection_rank"),
        "score": given.get("selection_score"),
        "capacity": given.get("key_account_capacity"),
        "components": {k: round(w.get(k, 0.0) * c / total, 6) for k, c in score_components(given).items()},
    }


def rank_eligible(scored: Sequence[tuple[str, float, float]]) -> dict[str, int]:
    """Ranks of (account, score, revenue share) rows: best first; a full tie shares its last position."""
    ordered = sorted(scored, key=lambda t: (-t[1], -t[2]))
    ranks: dict[str, int] = {}
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1][1:] == ordered[i][1:]:
            j += 1
        for k in range(i, j + 1):
            ranks[ordered[k][0]] = j + 1
        i = j + 1
    return ranks


def _share(facts: Mapping[str, Any]) -> float:
    v = _num(facts.get("abc_revenue_share"))
    return 0.0 if v is None else v


def select(
    ev: Evaluator | PortfolioRules, accounts: Sequence[Account], batch: int = 2000
) -> tuple[list[Account], dict[str, int]]:
    """Accounts with ``selection_rank`` set on the eligible ones (first pass of the rules), and the ranks.

    A rule set that derives no ``eligible`` or declares no ``selection_rank`` is left as it is.
    """
    facts = ev.ruleset.facts
    if "eligible" not in facts or "selection_rank" not in facts:
        return list(accounts), {}
    scored: list[tuple[str, float, float]] = []
    if isinstance(ev, PortfolioRules):  # the eligibility pass is cross-checked on its own sample
        ev.sampling([a for a in accounts if "selection_rank" not in a.facts])
    for i in range(0, len(accounts), batch):
        chunk = [a for a in accounts[i : i + batch] if "selection_rank" not in a.facts]
        for a, d in zip(chunk, ev.evaluate_many(chunk), strict=True):
            if d.derived.get("eligible"):
                scored.append((a.id, float(a.facts.get("selection_score", 0.0)), _share(a.facts)))
    ranks = rank_eligible(scored)
    out = [replace(a, facts={**a.facts, "selection_rank": ranks[a.id]}) if a.id in ranks else a for a in accounts]
    return out, ranks


def with_continuity(account: Account, was_key: bool, selection: SelectionSettings) -> Account:
    """The account with ``key_account_before`` from the previous review and its score recomputed with it."""
    if "key_account_before" in account.facts:
        return account
    facts = {**account.facts, "key_account_before": was_key}
    if "selection_score" in facts:
        facts["selection_score"] = selection_score(facts, selection.weights)
    return replace(account, facts=facts)


def summary(
    designated: set[str], ranks: Mapping[str, int], selection: SelectionSettings, eligible: Sequence[Account]
) -> dict[str, Any]:
    """Capacity, eligible and designated counts, the next in line (eligible, left out by capacity) and warnings."""
    scores = {a.id: a.facts.get("selection_score") for a in eligible}
    left = sorted((r, i) for i, r in ranks.items() if i not in designated)
    nxt = [(i, r, scores.get(i)) for r, i in left[: selection.next_in_line]]
    return summary_of(len(ranks), len(designated), nxt, selection)


def summary_of(
    eligible: int, designated: int, next_in_line: Sequence[tuple[str, int, Any]], selection: SelectionSettings
) -> dict[str, Any]:
    """`summary` from its counts and the next in line (account, rank, score), best rank first."""
    out: dict[str, Any] = {
        "capacity": selection.capacity,
        "eligible": eligible,
        "designated": designated,
        "next_in_line": [{"account": i, "rank": r, "selection_score": s} for i, r, s in next_in_line],
        "warnings": [],
    }
    if eligible and eligible > selection.warn_ratio * selection.capacity:
        warning = {"code": "eligibility-exceeds-capacity", "eligible": eligible, "capacity": selection.capacity}
        out["warnings"].append(warning)
    return out


def rank_in_context(account: Account, context: Sequence[Account], ev: Evaluator) -> tuple[int | None, int]:
    """The rank the account would have among the eligible accounts of a portfolio, and how many are eligible."""
    others = [a for a in context if a.id != account.id]
    _, ranks = select(ev, [*others, account])
    return ranks.get(account.id), len(ranks)
