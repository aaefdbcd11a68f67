"""The HTML report of `portfolio`, `evaluate` and `explain`: one self-contained file from jinja2 templates.

Everything is inline (styles, the small sorting script, SVG charts): the file makes no network
request of any kind and prints as it shows. Templates live in kamrules/render/templates/.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from kamrules.engine.evaluate import Decision, Reason
from kamrules.engine.explain import Explanation
from kamrules.kam import selection as sel
from kamrules.lang.model import ALL_STAGES
from kamrules.lang.ops import OPS
from kamrules.render import designation
from kamrules.render.charts import funnel_svg, pareto_points, pareto_svg
from kamrules.render.decision import Evaluated
from kamrules.render.explain import explanation_text
from kamrules.render.overview import summary_items
from kamrules.render.review import ReviewReport
from kamrules.render.rows import STATUSES, Columns, cell, displayed, key_accounts, ordered, review_rows, status_group
from kamrules.render.selection import selection_text
from kamrules.render.words import fmt, percent, threshold

__all__ = ["evaluated_html", "explanation_html", "review_html"]

KEY_COLUMNS = ["rank", "account", "name", "revenue", "classes", "potential", "quadrant", "stage", "move", "action"]


@cache
def _env() -> Any:
    import jinja2  # only when a report is asked for

    return jinja2.Environment(
        loader=jinja2.PackageLoader("kamrules.render", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def _page(template: str, **context: Any) -> str:
    from markupsafe import Markup

    context = {k: Markup(v) if k.endswith("_svg") else v for k, v in context.items()}
    return str(_env().get_template(template).render(**context)) + "\n"


def conditions(reason: Reason) -> list[dict[str, str]]:
    """A fired rule's comparisons: fact, operator, threshold, observed value, and whether it held."""
    return [
        {
            "fact": c.fact,
            "op": OPS[c.op].symbol,
            "threshold": threshold(c.op, c.value, c.value_of, c.times, c.plus),
            "observed": fmt(c.observed),
            "holds": "yes" if c.holds else "no",
        }
        for c in reason.conditions
    ]


def _reasons(d: Decision) -> list[dict[str, Any]]:
    return [
        {
            "rule": r.rule.id,
            "source": r.rule.source,
            "description": " ".join((r.rule.description or "").split()),
            "conditions": conditions(r),
        }
        for r in d.reasons
    ]


def _stage_counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    n = Counter(r["stage_recommended"] for r in rows)
    return {s: n[s] for s in ALL_STAGES}


def _flow(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Key accounts by current stage (rows) and recommended stage (columns)."""
    n = Counter((r["stage_current"], r["stage_recommended"]) for r in rows)
    used = [s for s in ALL_STAGES if any(s in k for k in n)]
    return {"stages": used, "cells": [[n[(a, b)] for b in used] for a in used]}


def _quadrants(rows: Sequence[Mapping[str, Any]], facts: Mapping[str, Any]) -> list[tuple[str, int]]:
    q = facts.get("selection_quadrant")
    values = list(q.values) if q is not None and q.values else sorted({r["quadrant"] for r in rows if r["quadrant"]})
    n = Counter(r["quadrant"] for r in rows)
    return [(v, n[v]) for v in values]


def _key_rows(r: ReviewReport, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {a.decision.account: a for a in r.review.accounts}
    out = []
    for row in displayed(key_accounts(rows, r.view), r.review.metrics):
        a = by_id[row["account"]]
        detail = sel.selection_detail(a.decision.given, r.review.settings.selection)
        out.append(
            {
                "cells": [(c, cell(c, row.get(c)), row.get(c)) for c in KEY_COLUMNS],
                "why": designation.designation_text(a.decision),
                "selection": selection_text(detail) if detail.get("rank") is not None else "",
                "actions": [x["text"] for x in a.decision.actions],
                "reasons": _reasons(a.decision),
            }
        )
    return out


def _groups(r: ReviewReport) -> list[dict[str, Any]]:
    out = []
    for status in STATUSES:
        shown, count = status_group(r.review, status, r.view)
        results = r.review.results_of([x["account"] for x in shown])
        entries = [(x["account"], x["name"], cell("revenue", x["revenue"]), designation.short_why(a))
                   for x, a in zip(shown, results, strict=True)]  # fmt: skip
        out.append({"status": status, "count": count, "entries": entries, "more": count - len(shown)})
    return out


def review_html(r: ReviewReport) -> str:
    """The portfolio review as one self-contained HTML page."""
    rv = r.review
    keys = review_rows(rv, {"key_account": True})
    cols = Columns(r.facts)
    pareto = [
        (m, pareto_svg(m, pareto_points(rv, m), percent(c.top20_share, 1) if c.top20_share is not None else "n/a"))
        for m, c in rv.concentration.items()
    ]
    # Every account's row only when the page lists them all (--all): a review on columns has a million.
    listed = []
    if r.view.all:
        listed = ordered(review_rows(rv, {"key_account": True} if r.view.key_only else None), r.view.sort, None)
    all_count = len(keys) if r.view.key_only else rv.account_count()
    return _page(
        "portfolio.html.j2",
        title=f"Portfolio review of {r.meta.get('file', 'the portfolio')}",
        meta=r.meta,
        rules=r.rules,
        version=rv.rules_version,
        run_id=r.run_id,
        summary=summary_items(rv, r.meta),
        counts={"accounts": rv.account_count(), "key_accounts": len(keys), **designation.counts(rv)},
        capacity=rv.selection.get("capacity"),
        active=rv.active_count(),
        key_revenue=cell("revenue", sum(x["revenue"] or 0 for x in keys)),
        previous_known=rv.previous_known,
        pareto=pareto,
        funnel_svg=funnel_svg(_stage_counts(keys), "Key accounts by recommended stage"),
        stage_counts=_stage_counts(keys),
        flow=_flow(keys),
        quadrants=_quadrants(keys, r.facts),
        key_titles=[(c, cols.title(c)) for c in KEY_COLUMNS],
        key_rows=_key_rows(r, keys),
        groups=_groups(r),
        structure=designation.structure_lines(rv),
        all_rows=[[cell(c, x.get(c)) for c in KEY_COLUMNS] for x in displayed(listed, rv.metrics)],
        all_count=all_count,
    )


def evaluated_html(e: Evaluated) -> str:
    """Evaluated accounts: designation, stage move, actions and every fired rule with its conditions."""
    decisions = [
        {
            "account": d.account,
            "name": d.name or "",
            "key_account": fmt(bool(d.key_account)),
            "stage": f"{d.stage_current or '-'} → {d.stage_recommended or '-'}",
            "move": d.move,
            "actions": [a["text"] for a in d.actions],
            "why": designation.designation_text(d),
            "reasons": _reasons(d),
            "decision_id": e.ids[i] if i < len(e.ids) else "",
        }
        for i, d in enumerate(e.decisions)
    ]
    return _page(
        "decisions.html.j2", title="Account decisions", decisions=decisions, version=e.ruleset.version, rules=e.rules
    )


def explanation_html(x: Explanation) -> str:
    """Why, why not and what it would take, for one account."""
    d = x.decision
    return _page(
        "explanation.html.j2",
        title=f"Why: {d.name or d.account}",
        decision=d,
        fired=_reasons(d),
        text=explanation_text(x),
        version=d.rules_version,
    )
