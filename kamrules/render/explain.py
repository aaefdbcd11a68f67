"""The text of `kamrules explain`: why, why not, and what it would take, for the terminal."""

from __future__ import annotations

from typing import Any

from kamrules.engine.explain import Explanation, Failure, why
from kamrules.engine.proposals import Proposal
from kamrules.lang.ops import REMOVE
from kamrules.render.words import comparison, fmt, trace_text


def explanation_text(e: Explanation) -> str:
    """The explanation for the terminal: why, why not, what it would take."""
    d = e.decision
    out = [f"Account {d.account}" + (f" — {d.name}" if d.name else ""), "", "Why"]
    out.extend(_why_lines(why(d)))
    out.extend(["", "Why not"])
    for m in e.misses:
        out.append(f"  {m.rule.id} → {m.goal} ({m.rule.source}) did not fire")
        out.append(f"      {' '.join(m.rule.description.split())}")
        out.extend(_failure_line(f) for f in m.failures)
    if not e.misses:
        out.append("  nothing missed: no transition out of this stage or designation failed to fire")
    out.extend(["", "What it would take"])
    if not e.goals:
        out.append("  no next stage or designation to reach")
    for goal in e.goals:
        props = [p for p in e.proposals if p.goal == goal]
        out.append(f"  to reach {goal}:" + ("" if props else " no verified change of given facts found"))
        out.extend(_proposal_line(i, p) for i, p in enumerate(props, 1))
        if e.levers:
            out.append(_exact_line(goal, e))
    return "\n".join(out)


def _exact_line(goal: str, e: Explanation) -> str:
    """The smallest change over controllable facts for one goal, or that they alone cannot reach it."""
    x = next((x for x in e.exact if x.proposal.goal == goal), None)
    if x is None:
        return f"    smallest over controllable facts ({', '.join(e.levers)}): none reaches it on their own"
    p = x.proposal
    facts = "fact" if x.facts_changed == 1 else "facts"
    return (
        f"    smallest over controllable facts: {_changes_text(p)}   [{x.facts_changed} {facts}, distance "
        f"{fmt(x.distance)}; checked: {p.rule} fires, stage {p.stage} ({p.move}), key account {fmt(p.key_account)}]"
    )


def _changes_text(p: Proposal) -> str:
    return ", ".join(f"{f} {fmt(a)} → {'(remove)' if b == REMOVE else fmt(b)}" for f, a, b in p.changes)


def _because_lines(b: dict[str, Any]) -> list[str]:
    """A fired rule's description and the comparisons that held."""
    return [f"      {b['description']}", *(f"      ✓ {trace_text(c)}" for c in b["conditions"])]


def _why_lines(w: dict[str, Any]) -> list[str]:
    out = ["  given: " + (", ".join(f"{k} = {fmt(v)}" for k, v in w["given"].items()) or "—")]
    for x in w["derived"]:
        b = x["because"]
        head = f"  → {x['fact'].replace('_', ' ')} = {fmt(x['value'])}"
        if b is None:
            out.append(f"{head}  (default: no rule concluded otherwise)")
            continue
        out.append(f"{head}  by {b['rule']} ({b['source']})")
        out.extend(_because_lines(b))
    s = w["stage"]
    out.append(
        f"  → stage {s['current'] or '—'} → {s['recommended'] or '—'} ({s['move']})"
        + (f"  by {s['because']['rule']} ({s['because']['source']})" if s["because"] else "  no transition rule fired")
    )
    if s["because"]:
        out.extend(_because_lines(s["because"]))
    if w["structure"]:
        out.append(f"  → structure {w['structure']['recommended']}  by {w['structure']['because']['rule']}")
    for a in w["actions"]:
        out.append(f"  → action: {a['text']}  (because of {', '.join(b['rule'] for b in a['because'])})")
    return out


def _failure_line(f: Failure) -> str:
    c = f.trace
    cond = comparison(c.fact, c.op, c.value, c.value_of)
    if not f.must_hold:
        cond = f"not ({cond})"
    gap = "" if f.gap is None else f", {'short by' if f.gap > 0 else 'over by'} {fmt(abs(f.gap))}"
    where = "  (one of the alternatives)" if "any[" in c.path else ""
    return f"      ✗ {cond}: observed {fmt(c.observed)}{gap}{where}"


def _proposal_line(i: int, p: Proposal) -> str:
    ch = _changes_text(p)
    return f"    {i}. {ch}   [checked: {p.rule} fires, stage {p.stage} ({p.move}), key account {fmt(p.key_account)}]"
