"""The words for selection: notes beside one account, and the selection part of the review summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["NOTES", "note_text", "notes_text", "selection_lines", "selection_text", "selection_why"]

NOTES = {
    "no-selection-rank": (
        "no selection_rank: this account was not ranked against a portfolio, so the designation rule "
        "cannot select it; give selection_rank in the account file or pass --portfolio FILE"
    ),
    "rank-from-portfolio": (
        "selection_rank taken from the --portfolio table (its rank among that table's eligible accounts)"
    ),
    "not-eligible-in-portfolio": "not eligible against the --portfolio table, so it has no selection_rank",
    "potential-unknown": (
        "no potential estimate: none of its inputs (revenue_growth, revenue_trend, attractiveness) is known"
    ),
    "potential-without-confidence": (
        "potential_score is given without potential_confidence: it cannot make the account eligible on its own"
    ),
    "first-order": "first-ever order in this period: no growth rate against the previous period",
}


def note_text(code: str) -> str:
    """One note code in words."""
    return NOTES.get(code, code)


def notes_text(codes: Sequence[str]) -> str:
    """The notes of one account, one line each (empty when none)."""
    return "\n".join(f"note: {note_text(c)}" for c in codes)


def selection_why(given: Mapping[str, Any]) -> str:
    """Rank, score and capacity of one account, in words, when they are known."""
    parts = []
    if given.get("selection_rank") is not None:
        parts.append(f"rank {given['selection_rank']} of the eligible")
    if given.get("selection_score") is not None:
        parts.append(f"selection score {given['selection_score']:.3f}")
    if given.get("key_account_capacity") is not None:
        parts.append(f"capacity {given['key_account_capacity']}")
    return ", ".join(parts)


COMPONENT_WORDS = {
    "abc_revenue": "revenue class",
    "abc_margin": "margin class",
    "abc_volume": "volume class",
    "abc_purchases": "purchases class",
    "potential": "potential x confidence",
    "relative_strength": "relative strength",
    "share_of_wallet": "share of wallet",
    "continuity": "key account last period",
}


def selection_text(detail: Mapping[str, Any]) -> str:
    """Rank within capacity and what the score is made of, in business words."""
    parts = [
        f"{COMPONENT_WORDS.get(k, k)} {v:.3f}"
        for k, v in sorted(detail["components"].items(), key=lambda kv: -kv[1])
        if v
    ]
    score = detail.get("score")
    return (
        f"rank {detail['rank']} of the eligible, capacity {detail.get('capacity')}; selection score "
        + (f"{score:.3f}" if isinstance(score, (int, float)) else "unknown")
        + (" = " + " + ".join(parts) if parts else "")
    )


def selection_lines(sel: Mapping[str, Any], bullet: str) -> list[str]:
    """The selection summary: capacity, eligible, designated, next in line, warnings."""
    if not sel:
        return []
    lines = [
        f"{bullet}selection: {sel['eligible']} eligible, {sel['designated']} designated, capacity {sel['capacity']}"
    ]
    nxt = sel.get("next_in_line") or []
    if nxt:
        lines.append(
            f"{bullet}next in line (eligible, left out by capacity): "
            + ", ".join(f"{e['account']} (rank {e['rank']}, score {e['selection_score']:.3f})" for e in nxt)
        )
    for w in sel.get("warnings", []):
        if w["code"] == "eligibility-exceeds-capacity":
            lines.append(
                f"{bullet}warning: {w['eligible']} accounts are eligible for {w['capacity']} key-account places; "
                "tighten the eligibility rules or raise the capacity (kam_managers, accounts_per_manager)"
            )
        elif w["code"] == "no-revenue-column":
            lines.append(
                f"{bullet}warning: the table has no revenue (no 'revenue' column, or no amount in it): "
                "no account has an ABC class on revenue; map the column with --columns revenue=NAME"
            )
    return lines
