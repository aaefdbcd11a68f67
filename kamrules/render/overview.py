"""The portfolio review as a KAM director reads it: the summary first, then the key accounts, then the changes.

The same rows feed text, Markdown, CSV, XLSX and HTML: `account_row` gives typed values, `cell`
words one of them, `Columns` titles them from facts.yaml (`label` and `unit`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from kamrules.kam.review import AccountResult, PortfolioReview
from kamrules.lang.model import Fact
from kamrules.render import designation
from kamrules.render.selection import note_text
from kamrules.render.words import fixed, fmt, percent

__all__ = [
    "SORT_FIELDS",
    "STATUSES",
    "Columns",
    "View",
    "account_row",
    "cell",
    "fit_table",
    "key_accounts",
    "ordered",
    "overview",
    "summary_items",
]

STATUSES = ("new", "kept", "lost")
# Numbers are right-aligned; these columns are numbers.
NUMERIC = {"revenue", "margin", "rank", "potential", "potential_confidence", "selection_score"}
# The fields --sort accepts: the columns of an account row.
SORT_FIELDS = (
    "account",
    "name",
    "revenue",
    "abc_revenue",
    "abc_volume",
    "abc_purchases",
    "abc_margin",
    "potential",
    "quadrant",
    "rank",
    "selection_score",
    "review",
    "move",
)
# The widest a text table may be: a terminal of 120 columns.
WIDTH = 120


@dataclass(frozen=True)
class View:
    """How much of the review to show: the top N of each group, key accounts only, the sort field, or everything."""

    top: int = 20
    key_only: bool = False
    sort: str | None = None  # None: key accounts by rank, groups by revenue, all accounts in input order
    all: bool = False


def account_row(a: AccountResult, metrics: Sequence[str]) -> dict[str, Any]:
    """One account as typed values (numbers stay numbers, booleans booleans); `cell` words them."""
    d, est = a.decision, a.prepared
    confidence = None if not est or est.potential_given or not est.potential else est.potential.confidence
    row: dict[str, Any] = {"account": d.account, "name": d.name or "", "revenue": d.given.get("revenue")}
    row.update({f"abc_{m}": d.given.get(f"abc_{m}", "") for m in metrics})
    row["potential"] = d.given.get("potential_score")
    row["potential_confidence"] = confidence
    row["quadrant"] = d.derived.get("selection_quadrant", "")
    row["eligible"] = bool(d.derived.get("eligible"))
    row["rank"] = d.given.get("selection_rank")
    row["selection_score"] = d.given.get("selection_score")
    row["key_account"] = bool(d.key_account)
    row["review"] = a.status or ""
    row["stage_current"] = d.stage_current or ""
    row["stage_recommended"] = d.stage_recommended or ""
    row["move"] = d.move
    row["action"] = d.actions[0]["text"] if d.actions else ""
    row["action_id"] = d.actions[0]["id"] if d.actions else ""
    return row


def amount(value: Any) -> str:
    """Money or a quantity with thousands separators: whole units from 1,000 on, else two decimals."""
    if value is None or value == "":
        return "—"
    v = float(value)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"


def cell(column: str, value: Any) -> str:
    """One value of an account row as a person reads it."""
    if value is None or value == "":
        return "" if column in ("name", "review", "action", "action_id", "quadrant") else "—"
    if column in ("revenue", "margin"):
        return amount(value)
    if column in ("potential", "selection_score"):
        return fixed(value, 2)
    if column == "potential_confidence":
        return percent(value, 0)
    return fmt(value)


# Titles of the row's columns that are not facts, and the fact each of the others shows.
_OWN_TITLES = {
    "account": "Account",
    "name": "Name",
    "potential": "Potential",
    "quadrant": "Quadrant",
    "review": "Review",
    "stage": "Stage (KAM)",
    "stage_current": "Stage",
    "stage_recommended": "Recommended stage",
    "classes": "Classes",
    "move": "Move",
    "action": "First action",
    "action_id": "Action id",
}
_FACT_OF = {
    "revenue": "revenue",
    "margin": "margin",
    "rank": "selection_rank",
    "selection_score": "selection_score",
    "potential_confidence": "potential_confidence",
    "eligible": "eligible",
    "key_account": "key_account",
}


@dataclass(frozen=True)
class Columns:
    """Column titles from facts.yaml: the fact's label, and its unit for money and quantities."""

    facts: Mapping[str, Fact] = field(default_factory=dict)

    def title(self, column: str) -> str:
        """The title of one column of an account row."""
        name = _FACT_OF.get(column, column)
        fact = self.facts.get(name)
        if fact is None:
            return _OWN_TITLES.get(column, column.replace("_", " ").capitalize())
        unit = f" ({fact.unit})" if fact.unit and fact.unit not in ("ratio", "fraction", "score") else ""
        return fact.title + (unit if column in ("revenue", "margin") else "")


def _sort_key(column: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """Numbers largest first, text A to Z, missing values last; then by account id, so the order is stable."""

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        v = row.get(column)
        if v is None or v == "":
            return (2, 0, "", row["account"])
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            # rank: 1 is best, so smallest first
            return (0, v if column == "rank" else -v, "", row["account"])
        return (1, 0, str(v).lower(), row["account"])

    return key


def ordered(rows: list[dict[str, Any]], sort: str | None, default: str | None) -> list[dict[str, Any]]:
    """The rows in the order asked for (``sort``), else by ``default``, else as given."""
    column = sort or default
    return sorted(rows, key=_sort_key(column)) if column else rows


def key_accounts(rows: list[dict[str, Any]], view: View) -> list[dict[str, Any]]:
    """The key accounts, by rank unless another order is asked for."""
    return ordered([r for r in rows if r["key_account"]], view.sort, "rank")


def fit_table(
    rows: Sequence[Sequence[str]], headers: Sequence[str], numeric: Sequence[bool], tablefmt: str, shrink: set[int]
) -> str:
    """A table with numbers right-aligned; for text, the ``shrink`` columns are cut (…) until it fits WIDTH."""
    body = [list(r) for r in rows]
    if tablefmt == "simple":
        # tabulate pads each header by 2 (its MIN_PADDING) and puts 2 spaces between columns
        widths = [max([len(h) + 2, *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]
        while sum(widths) + 2 * (len(widths) - 1) > WIDTH:
            wide = max(shrink, key=lambda i: widths[i], default=None)
            if wide is None or widths[wide] <= max(12, len(headers[wide]) + 2):
                break
            widths[wide] -= 1
        body = [[_cut(c, widths[i]) if i in shrink else c for i, c in enumerate(r)] for r in body]
    align = ["right" if n else "left" for n in numeric]
    return tabulate(body, headers=list(headers), tablefmt=tablefmt, colalign=align, disable_numparse=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: list[dict[str, Any]], columns: list[str], cols: Columns, md: bool) -> str:
    """Account rows as a text or Markdown table under their titles."""
    shrink = {i for i, c in enumerate(columns) if c in ("name", "action", "why", "stage")}
    numeric = [c in NUMERIC for c in columns]
    body = [[cell(c, r.get(c)) if c != "why" else r["why"] for c in columns] for r in rows]
    titles = [cols.title(c) if c != "why" else "Why" for c in columns]
    return fit_table(body, titles, numeric, "github" if md else "simple", shrink)


def _classes(metrics: Sequence[str]) -> str:
    return "ABC classes: " + ", ".join(metrics)


def _key_columns(rows: list[dict[str, Any]], metrics: Sequence[str]) -> list[str]:
    named = any(r["name"] and r["name"] != r["account"] for r in rows)
    return ["rank", "account", *(["name"] if named else []), "revenue", "classes", "stage", "move", "action"]


def _short_stage(stage: str) -> str:
    return stage.removesuffix("-KAM") or "-"


def displayed(rows: list[dict[str, Any]], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Rows with the columns only tables show: the ABC classes in one, the stage move in short ('early → mid')."""
    return [
        r
        | {
            "classes": " ".join(str(r.get(f"abc_{m}") or "-") for m in metrics),
            "stage": f"{_short_stage(r['stage_current'])} → {_short_stage(r['stage_recommended'])}",
        }
        for r in rows
    ]


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


def count(n: int) -> str:
    """A count with thousands separators: '23,570'."""
    return f"{n:,}"


def active_count(rows: Sequence[Mapping[str, Any]]) -> int:
    """Accounts with revenue in the period."""
    return sum(1 for r in rows if isinstance(r["revenue"], (int, float)) and r["revenue"] > 0)


def summary_items(rv: PortfolioReview, rows: list[dict[str, Any]], meta: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The review's summary as (label, text) pairs: counts, capacity, changes, structure, concentration, warnings."""
    s = designation.counts(rv)
    sel = rv.selection
    active = active_count(rows)
    keys = f"{count(s['key_accounts'])}"
    if sel:
        keys += f" of capacity {count(sel['capacity'])} ({count(sel['eligible'])} eligible)"
    if rv.previous_known:
        changes = ", ".join(f"{st} {count(s[st])}" for st in STATUSES)
    else:
        changes = "unknown: " + designation.unknown_previous(meta)
    st = rv.structure.to_dict()
    items = [
        ("Accounts", f"{count(len(rows))} ({count(active)} with revenue in the period)"),
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
    first = sum(1 for a in rv.accounts if "first-order" in a.notes)
    if first:
        items.append(("Note", f"{count(first)} account(s): {note_text('first-order')}"))
    items.extend(("Warning", w) for w in designation.warnings(rv, meta))
    return items


def _figure(x: str | None, places: int, as_percent: bool = False) -> str:
    if x is None:
        return "n/a"
    return percent(x, places) if as_percent else fixed(x, places)


def _more(doc: _Doc, shown: int, total: int) -> None:
    if total > shown:
        doc.block(f"{'' if doc.md else '  '}and {count(total - shown)} more (--all lists them)")


def _groups(doc: _Doc, rv: PortfolioReview, rows: list[dict[str, Any]], view: View, cols: Columns) -> None:
    if not rv.previous_known:
        return
    by_id = {a.decision.account: a for a in rv.accounts}
    rules: dict[str, str] = {}
    for status in STATUSES:
        group = ordered([r for r in rows if r["review"] == status], view.sort, "revenue")
        doc.heading(f"{status.capitalize()} key accounts ({count(len(group))})")
        if not group:
            doc.block("none")
            continue
        shown = group if view.all else group[: view.top]
        for r in shown:
            a = by_id[r["account"]]
            r["why"] = designation.short_why(a)
            rules.update(designation.rules_of(a))
        named = any(r["name"] and r["name"] != r["account"] for r in shown)
        doc.block(table(shown, ["account", *(["name"] if named else []), "revenue", "why"], cols, doc.md))
        _more(doc, len(shown), len(group))
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
    rows = [account_row(a, rv.metrics) for a in rv.accounts]
    _header(doc, meta, rv, rules, run_id)
    doc.heading("Summary")
    for label, text in summary_items(rv, rows, meta):
        doc.item(label, text)
    keys = displayed(key_accounts(rows, view), rv.metrics)
    doc.heading(f"Key accounts ({count(len(keys))})")
    if keys:
        doc.block(
            table(keys, _key_columns(keys, rv.metrics), cols, md) + "\n" + ("\n" if md else "") + _classes(rv.metrics)
        )
    else:
        doc.block("none")
    _groups(doc, rv, rows, view, cols)
    _next_in_line(doc, rv, view)
    _structure(doc, rv)
    if view.all:
        listed = ordered([r for r in rows if r["key_account"] or not view.key_only], view.sort, None)
        doc.heading(f"{'Key accounts' if view.key_only else 'All accounts'} in detail ({count(len(listed))})")
        # the widest columns (potential, quadrant, the four classes apart) are in the CSV, XLSX and HTML
        columns = ["rank", "account", "name", "revenue", "classes", "key_account", "review", "stage", "move", "action"]
        doc.block(table(displayed(listed, rv.metrics), columns, cols, md))
    elif not view.key_only:
        doc.heading("All accounts")
        doc.block(f"{count(len(rows))} accounts: --all lists every one, --output FILE.csv or .xlsx writes them all")
    return "\n".join(doc.lines).lstrip("\n") + "\n"
