"""The portfolio review for people: which rule (un)designated each key account, and the review summary.

The summary is the document behind both the JSON trailer of `kamrules portfolio` and its text
and Markdown summary (kamrules/render/review.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kamrules.engine import Decision
from kamrules.kam import selection as sel
from kamrules.kam.review import DESIGNATION_FACTS, AccountResult, PortfolioReview, designation_reasons
from kamrules.kam.settings import Settings
from kamrules.render.rows import STATUSES, View, status_group
from kamrules.render.words import fmt, trace_text

__all__ = [
    "counts",
    "designation_text",
    "review_entry",
    "rules_of",
    "short_why",
    "structure_lines",
    "summary",
    "trailer",
    "unknown_previous",
    "warnings",
]


def designation_text(d: Decision) -> str:
    """One sentence: which rule (un)designated the account, or that none fired."""
    rule = d.derived_by.get("key_account")
    if rule is None:
        return "no key-account designation in this rule set"
    elig = d.derived_by.get("eligible")
    if rule == "default" and d.derived.get("eligible") is True:
        rank, cap = d.given.get("selection_rank"), d.given.get("key_account_capacity")
        where = f"ranked {rank}, beyond the capacity of {cap}" if rank is not None else "not ranked (no selection_rank)"
        return f"eligible by {elig} but not selected: {where}"
    if rule == "default" and elig not in (None, "default"):
        return f"not eligible: {elig}: {_description(d, elig)}"
    if rule == "default":
        known = d.observed
        facts = ", ".join(f"{f} {known[f]}" for f in DESIGNATION_FACTS if f in known) or "no designation facts"
        return f"no designation rule fires ({facts}): key_account takes its default, {d.key_account}"
    verb = "designated" if d.key_account else "withdrawn"
    if d.key_account and any(x.rule.id == elig for x in d.reasons):  # selected within capacity: why eligible
        return f"{verb} by {rule} (eligible by {elig}: {_description(d, elig)})"
    return f"{verb} by {rule}: {_description(d, rule)}"


def _description(d: Decision, rule_id: str | None) -> str:
    """A fired rule's description on one line."""
    r = next(x.rule for x in d.reasons if x.rule.id == rule_id)
    return " ".join((r.description or "").split())


def review_entry(a: AccountResult, settings: Settings) -> dict[str, Any]:
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
        "facts": _designation_facts(d),
        "selection": sel.selection_detail(d.given, settings.selection),
    }
    if a.previous_decision is not None:
        p = a.previous_decision
        entry["previous_rule"] = p.derived_by.get("key_account")
        entry["previous_why"] = designation_text(p)
        entry["previous_facts"] = _designation_facts(p)
    return entry


def _designation_facts(d: Decision) -> dict[str, Any]:
    known = d.observed
    return {f: known[f] for f in DESIGNATION_FACTS if f in known}


def summary(rv: PortfolioReview, view: View | None = None) -> dict[str, Any]:
    """The review, the concentration figures and the structure recommendation.

    New, kept and lost: every one, in input order; with a ``view``, those it shows, as the text report.
    """
    review = {}
    for s in STATUSES:
        if view is None:
            chosen = rv.by_status(s)
        else:
            chosen = rv.results_of([r["account"] for r in status_group(rv, s, view)[0]])
        review[s] = [review_entry(a, rv.settings) for a in chosen]
    return {
        "accounts": rv.account_count(),
        "key_accounts": rv.key_count(),
        "previous_designation_known": rv.previous_known,
        "selection": dict(rv.selection),
        "review_counts": {s: rv.status_count(s) for s in STATUSES},
        "review": review,
        "concentration": {m: c.to_dict() for m, c in rv.concentration.items()},
        "portfolio_facts": dict(rv.portfolio_facts),
        "structure": rv.structure.to_dict(),
    }


def trailer(rv: PortfolioReview, view: View | None = None) -> dict[str, Any]:
    """The parts of the JSON document that follow the streamed accounts."""
    return {"metrics": list(rv.metrics), "summary": summary(rv, view)}


def counts(rv: PortfolioReview) -> dict[str, int]:
    """Key accounts now, and how many are new, kept and lost against the previous period."""
    out = {"key_accounts": rv.key_count()}
    out.update({s: rv.status_count(s) for s in ("new", "kept", "lost")})
    return out


def unknown_previous(meta: Mapping[str, Any]) -> str:
    """Why new, kept and lost cannot be told."""
    if "period" in meta:
        return f"no invoice lines in the previous period {meta.get('previous_period') or ''}".rstrip()
    return "the table has no previous_key_account column"


def warnings(rv: PortfolioReview, meta: Mapping[str, Any]) -> list[str]:
    """What a reader must know before trusting the review: capacity overrun, unknown previous period."""
    out = []
    for w in rv.selection.get("warnings", []):
        if w["code"] == "eligibility-exceeds-capacity":
            out.append(
                f"{w['eligible']:,} accounts are eligible for {w['capacity']} key-account places; tighten the "
                "eligibility rules or raise the capacity (kam_managers, accounts_per_manager)"
            )
        elif w["code"] == "no-revenue-column":
            out.append(
                "the table has no revenue (no 'revenue' column, or no amount in it): no account has an ABC "
                "class on revenue; map the column with --columns revenue=NAME"
            )
    if not rv.previous_known and "period" in meta:
        out.append(f"{unknown_previous(meta)}: every key account would look new, so new/kept/lost is unknown")
    return out


def short_why(a: AccountResult) -> str:
    """Why the account is (no longer) a key account, in a few words: rank and score, or the rule."""
    d = a.decision
    if a.prepared is None:
        return "no lines in this period"
    rule, elig = d.derived_by.get("key_account"), d.derived_by.get("eligible")
    rank, cap, score = (d.given.get(f) for f in ("selection_rank", "key_account_capacity", "selection_score"))
    scored = f", score {score:.3f}" if isinstance(score, (int, float)) else ""
    if d.key_account:
        return f"rank {rank} of {cap} places{scored}; {elig}"
    if rule == "default" and d.derived.get("eligible") is True:
        return f"rank {rank} beyond capacity {cap}{scored}" if rank is not None else "eligible but not ranked"
    if rule == "default" and elig not in (None, "default"):
        return f"not eligible: {elig}"
    return f"withdrawn by {rule}" if rule != "default" else "not eligible: no eligibility rule fires"


def rules_of(a: AccountResult) -> dict[str, str]:
    """The designation rules that fired on the account, each with its description on one line."""
    return {r.rule.id: " ".join((r.rule.description or "").split()) for r in designation_reasons(a.decision)}


def structure_lines(rv: PortfolioReview) -> list[tuple[str, str]]:
    """The structure recommendation, the portfolio facts and each rule's conditions, as (label, text) pairs."""
    st = rv.structure.to_dict()
    lines = [
        ("recommended", f"{st['recommended'] or 'none'} (rule {st['rule'] or '-'})"),
        ("portfolio facts", ", ".join(f"{k} {fmt(v)}" for k, v in rv.portfolio_facts.items())),
    ]
    for r in st["reasons"]:
        # A comparison under a `not` must not hold for the rule to fire: say so.
        conds = "; ".join(
            ("must not hold: " if ".not." in f".{c['path']}." else "") + trace_text(c, verdict=True)
            for c in r["conditions"]
        )
        lines.append((r["rule"], f"{' '.join((r['description'] or '').split()).rstrip('.')}; because {conds}"))
    return lines
