"""The portfolio review for people: which rule (un)designated each key account, and the review summary.

The summary is the document behind both the JSON trailer of `kamrules portfolio` and its text
and Markdown summary (kamrules/render/review.py).
"""

from __future__ import annotations

from typing import Any

from kamrules.engine import Decision
from kamrules.kam.review import DESIGNATION_FACTS, AccountResult, PortfolioReview, designation_reasons

__all__ = ["designation_text", "review_entry", "summary", "trailer"]


def designation_text(d: Decision) -> str:
    """One sentence: which rule (un)designated the account, or that none fired."""
    rule = d.derived_by.get("key_account")
    if rule is None:
        return "no key-account designation in this rule set"
    if rule == "default":
        facts = ", ".join(f"{f} {d.given[f]}" for f in DESIGNATION_FACTS if f in d.given) or "no designation facts"
        return f"no designation rule fires ({facts}): key_account takes its default, {d.key_account}"
    r = next(x.rule for x in d.reasons if x.rule.id == rule)
    verb = "designated" if d.key_account else "withdrawn"
    return f"{verb} by {rule}: {' '.join((r.description or '').split())}"


def review_entry(a: AccountResult) -> dict[str, Any]:
    """One new/kept/lost key account with the rules that (un)designated it, now and before."""
    d = a.decision
    entry = {
        "account": d.account,
        "name": d.name,
        "key_account": bool(d.key_account),
        "previous_key_account": a.previous_key,
        "rule": d.derived_by.get("key_account"),
        "why": designation_text(d),
        "reasons": [r.to_dict() for r in designation_reasons(d)],
        "facts": {f: d.given.get(f) for f in DESIGNATION_FACTS if f in d.given},
    }
    if a.previous_decision is not None:
        p = a.previous_decision
        entry["previous_rule"] = p.derived_by.get("key_account")
        entry["previous_why"] = designation_text(p)
        entry["previous_facts"] = {f: p.given.get(f) for f in DESIGNATION_FACTS if f in p.given}
    return entry


def summary(rv: PortfolioReview) -> dict[str, Any]:
    """The review, the concentration figures and the structure recommendation."""
    review = {s: [review_entry(a) for a in rv.by_status(s)] for s in ("new", "kept", "lost")}
    return {
        "accounts": len(rv.accounts),
        "key_accounts": sum(1 for a in rv.accounts if a.decision.key_account),
        "previous_designation_known": rv.previous_known,
        "review": review,
        "concentration": {m: c.to_dict() for m, c in rv.concentration.items()},
        "portfolio_facts": dict(rv.portfolio_facts),
        "structure": rv.structure.to_dict(),
    }


def trailer(rv: PortfolioReview) -> dict[str, Any]:
    """The parts of the JSON document that follow the streamed accounts."""
    return {"metrics": list(rv.metrics), "summary": summary(rv)}
