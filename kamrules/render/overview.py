"""The portfolio review as a KAM director reads it: the summary first, then the key accounts, then the changes."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kamrules.kam.review import PortfolioReview
from kamrules.render import designation
from kamrules.render.rows import (
    STATUSES,
    WIDTH,
    Columns,
    View,
    count,
    displayed,
    key_accounts,
    ordered,
    review_rows,
    status_group,
    table,
)
from kamrules.render.selection import note_text
from kamrules.render.words import fixed, percent

__all__ = ["overview", "summary_items"]


def _classes(metrics: Sequence[str]) -> str:
    return "ABC classes: " + ", ".join(metrics)


def _key_columns(rows: list[dict[str, Any]], metrics: Sequence[str]) -> list[str]:
    named = any(r["name"] and r["name"] != r["account"] for r in rows)
    return ["rank", "account", *(["name"] if named else []), "revenue", "classes", "stage", "move", "action"]


@dataclass(frozen=True)
class _Doc:
    """The lines of a text or Markdown document, with its headings and bullets."""

    md: bool
    lines: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.lines.extend(["", f"## {text}" if self.md else text])
        if self.md:
            self.lines.append("")

    def item(self, label: str, value: str) -> None:
        if self.md:
            self.lines.append(f"- **{label}**: {value}")
        else:
            first = f"  {label + ':':<26} "
            self.lines.extend(textwrap.wrap(value, WIDTH, initial_indent=first, subsequent_indent=" " * len(first)))

    def block(self, text: str) -> None:
        self.lines.append(text)


def _header(doc: _Doc, meta: Mapping[str, Any], rv: PortfolioReview, rules: str, run_id: str) -> None:
    title = f"Portfolio review of {meta.get('file', 'the portfolio')}"
    if "period" in meta:
        title += f", period {meta['period']} against {meta.get('previous_period') or 'no previous period'}"
    doc.block(f"# {title}" if doc.md else title)
    if doc.md:
        doc.block("")
    doc.block((rules or "rules: rules") + f", version {rv.rules_version[:12]}" + (f", run {run_id}" if run_id else ""))
    if meta.get("period_chosen"):
        doc.block(
            f"No --period given: reviewing the {meta['period_chosen']}, {meta['period']}, "
            f"against the one before, {meta['previous_period']}."
        )


def summary_items(rv: PortfolioReview, meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The review's summary as (label, text) pairs: counts, capacity, changes, structure, concentration, warnings."""
    s = designation.counts(rv)
    sel = rv.selection
    active = rv.active_count()
    keys = f"{count(s['key_accounts'])}"
    if sel:
        keys += f" of capacity {count(sel['capacity'])} ({count(sel['eligible'])} eligible)"
    if rv.previous_known:
        changes = ", ".join(f"{st} {count(s[st])}" for st in STATUSES)
    else:
        changes = "unknown: " + designation.unknown_previous(meta)
    st = rv.structure.to_dict()
    items = [
        ("Accounts", f"{count(rv.account_count())} ({count(active)} with revenue in the period)"),
        ("Key accounts", keys),
        ("Against previous period", changes),
        ("Structure", f"{st['recommended'] or 'none'}" + (f" (rule {st['rule']})" if st["rule"] else "")),
    ]
    conc = {m: c.to_dict() for m, c in rv.concentration.items()}
    if conc:
        top20 = {c["top20_accounts"] for c in conc.values()}
        who = f"top 20% of accounts ({count(top20.pop())})" if len(top20) == 1 else "top 20% of accounts"
        shares = ", ".join(f"{m} {_figure(c['top20_share'], 1, True)}" for m, c in conc.items())
        items.append(("Concentration", f"{who} hold {shares}"))
        ginis = ", ".join(f"{m} {_figure(c['gini'], 3)}/{_figure(c['hhi'], 4)}" for m, c in conc.items())
        items.append(("Gini / HHI", ginis))
    first = rv.note_count("first-order")
    if first:
        items.append(("Note", f"{count(first)} account(s): {note_text('first-order')}"))
    items.extend(("Warning", w) for w in designation.warnings(rv, meta))
    return items


def _figure(x: str | None, places: int, as_percent: bool = False) -> str:
    if x is None:
        return "n/a"
    return percent(x, places) if as_percent else fixed(x, places)


def _more(doc: _Doc, shown: int, total: int) -> None:
    if total > shown:  # in Markdown a blank line ends the table, or the line would be read as one of its rows
        lead = "\n" if doc.md else "  "
        doc.block(f"{lead}and {count(total - shown)} more (--all lists them)")


def _groups(doc: _Doc, rv: PortfolioReview, view: View, cols: Columns) -> None:
    if not rv.previous_known:
        return
    rules: dict[str, str] = {}
    for status in STATUSES:
        shown, total = status_group(rv, status, view)
        doc.heading(f"{status.capitalize()} key accounts ({count(total)})")
        if not total:
            doc.block("none")
            continue
        for r, a in zip(shown, rv.results_of([r["account"] for r in shown]), strict=True):
            r["why"] = designation.short_why(a)
            rules.update(designation.rules_of(a))
        named = any(r["name"] and r["name"] != r["account"] for r in shown)
        doc.block(table(shown, ["account", *(["name"] if named else []), "revenue", "why"], cols, doc.md))
        _more(doc, len(shown), total)
    if rules:
        doc.heading("Rules behind these designations")
        for rule, text in sorted(rules.items()):
            doc.item(rule, text)


def _next_in_line(doc: _Doc, rv: PortfolioReview, view: View) -> None:
    nxt = rv.selection.get("next_in_line") or []
    if not nxt:
        return
    doc.heading("Next in line (eligible, left out by capacity)")
    shown = nxt if view.all else nxt[: view.top]
    doc.block(
        ", ".join(
            f"{e['account']} (rank {e['rank']}"
            + (f", score {e['selection_score']:.3f})" if e["selection_score"] is not None else ")")
            for e in shown
        )
    )


def _structure(doc: _Doc, rv: PortfolioReview) -> None:
    doc.heading("Structure")
    for line in designation.structure_lines(rv):
        doc.item(*line)


def overview(
    rv: PortfolioReview, meta: Mapping[str, Any], view: View, cols: Columns, md: bool, rules: str = "", run_id: str = ""
) -> str:
    """The whole review as text (Markdown when md): summary, key accounts, new/kept/lost, structure."""
    doc = _Doc(md)
    _header(doc, meta, rv, rules, run_id)
    doc.heading("Summary")
    for label, text in summary_items(rv, meta):
        doc.item(label, text)
    keys = displayed(key_accounts(review_rows(rv, {"key_account": True}), view), rv.metrics)
    doc.heading(f"Key accounts ({count(len(keys))})")
    if keys:
        doc.block(
            table(keys, _key_columns(keys, rv.metrics), cols, md) + "\n" + ("\n" if md else "") + _classes(rv.metrics)
        )
    else:
        doc.block("none")
    _groups(doc, rv, view, cols)
    _next_in_line(doc, rv, view)
    _structure(doc, rv)
    if view.all:
        listed = ordered(review_rows(rv, {"key_account": True} if view.key_only else None), view.sort, None)
        doc.heading(f"{'Key accounts' if view.key_only else 'All accounts'} in detail ({count(len(listed))})")
        # the widest columns (potential, quadrant, the four classes apart) are in the CSV, XLSX and HTML
        columns = ["rank", "account", "name", "revenue", "classes", "key_account", "review", "stage", "move", "action"]
        doc.block(table(displayed(listed, rv.metrics), columns, cols, md))
    elif not view.key_only:
        doc.heading("All accounts")
        n = count(rv.account_count())
        doc.block(f"{n} accounts: --all lists every one, --output FILE.csv or .xlsx writes them all")
    return "\n".join(doc.lines).lstrip("\n") + "\n"
