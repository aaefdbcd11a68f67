"""The output of `kamrules portfolio` and `kamrules abc`: text, Markdown, CSV and JSON.

JSON conventions: money values, shares and concentration figures from the ABC analysis are
exact Decimals written as strings ("0.8123..."), so nothing is rounded on the way; facts handed
to the rules (and echoed in each decision) are JSON numbers, as the engine sees them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from kamrules.engine.evaluate import Decision
from kamrules.kam import AbcRow, ComputedAbc, Settings
from kamrules.kam.review import PortfolioReview
from kamrules.render import decision as report
from kamrules.render import designation
from kamrules.render.selection import note_text, selection_lines, selection_text
from kamrules.render.words import fixed, fmt, percent, trace_text

__all__ = ["AbcReport", "JsonStream", "ReviewReport"]


def _top_action(d: Decision) -> str:
    return d.actions[0]["id"] if d.actions else ""


def account_rows(rv: PortfolioReview) -> list[dict[str, Any]]:
    """One flat row per account for table, CSV and Markdown."""
    out = []
    for a in rv.accounts:
        d = a.decision
        row = {"account": d.account, "name": d.name or ""}
        for m in rv.metrics:
            row[f"abc_{m}"] = d.given.get(f"abc_{m}", "")
        pot, est = d.given.get("potential_score"), a.prepared
        confidence = "" if not est or est.potential_given or not est.potential else est.potential.confidence
        row["potential"] = (
            "" if pot is None else fixed(pot, 2) + (f" ({percent(confidence, 0)})" if confidence != "" else "")
        )
        row["quadrant"] = d.derived.get("selection_quadrant", "")
        row["eligible"] = "yes" if d.derived.get("eligible") else "no"
        row["rank"] = d.given.get("selection_rank", "")
        row["key_account"] = fmt(bool(d.key_account))
        row["review"] = a.status or ""
        row["stage"] = f"{d.stage_current or '-'} → {d.stage_recommended or '-'}"
        row["move"] = d.move
        row["top_action"] = _top_action(d)
        out.append(row)
    return out


def _names(entries: list[dict[str, Any]]) -> str:
    return (
        ", ".join(
            f"{e['account']}" + (f" ({e['name']})" if e.get("name") and e["name"] != e["account"] else "")
            for e in entries
        )
        or "none"
    )


def _figure(x: str | None, places: int, as_percent: bool = False) -> str:
    """A concentration figure (an exact decimal string), or n/a when there is none."""
    if x is None:
        return "n/a"
    return percent(x, places) if as_percent else fixed(x, places)


def summary_text(rv: PortfolioReview, meta: dict[str, Any], md: bool = False) -> str:
    """The review, concentration and structure as text (Markdown when md)."""
    s = designation.summary(rv)
    h = "## " if md else ""
    b = "- " if md else "  "
    lines = [
        f"{h}Summary",
        f"{b}accounts: {s['accounts']}, key accounts: {s['key_accounts']}"
        + (f" (period {meta['period']}, previous {meta['previous_period']})" if "period" in meta else ""),
    ]
    lines.extend(selection_lines(s.get("selection", {}), b))
    first = sum(1 for a in rv.accounts if "first-order" in a.notes)
    if first:
        lines.append(f"{b}{first} account(s) with a first-ever order in the period: {note_text('first-order')}")
    if not s["previous_designation_known"]:
        lines.append(f"{b}previous designation unknown (no previous_key_account column): no new/kept/lost review")
    else:
        for status in ("new", "kept", "lost"):
            entries = s["review"][status]
            lines.append(f"{b}{status} key accounts: {len(entries)}: {_names(entries)}")
            for e in entries:
                lines.append(f"{b}  {e['account']}: {e['why']}")
                if e.get("selection") and e["selection"].get("rank") is not None:
                    lines.append(f"{b}    {selection_text(e['selection'])}")
                if status == "lost" and e.get("previous_why"):
                    lines.append(f"{b}    previously: {e['previous_why']}")
    lines.append(f"{h}Concentration" if md else "Concentration")
    for m, c in s["concentration"].items():
        lines.append(
            f"{b}{m}: top 20% of accounts ({c['top20_accounts']}) hold {_figure(c['top20_share'], 1, True)}, "
            f"Gini {_figure(c['gini'], 3)}, HHI {_figure(c['hhi'], 4)}"
        )
    st = s["structure"]
    lines.append(f"{h}Structure" if md else "Structure")
    lines.append(
        f"{b}recommended: {st['recommended'] or 'none'} (rule {st['rule'] or '-'}); portfolio facts: "
        + ", ".join(f"{k} {v}" for k, v in s["portfolio_facts"].items())
    )
    for r in st["reasons"]:
        # A comparison under a `not` must not hold for the rule to fire: say so.
        conds = "; ".join(
            ("must not hold: " if ".not." in f".{c['path']}." else "") + trace_text(c, verdict=True)
            for c in r["conditions"]
        )
        lines.append(f"{b}{r['rule']}: {' '.join((r['description'] or '').split())}")
        lines.append(f"{b}  because {conds}")
    return "\n".join(lines)


class JsonStream:
    """Writes the portfolio JSON document while accounts are evaluated, so no run holds it all in memory."""

    CHUNK = 1 << 20

    def __init__(self, write: Callable[[str], None], head: dict[str, Any]) -> None:
        self._write = write
        self._parts: list[str] = []
        self._size = 0
        self._first = True
        self._add("{" + ", ".join(f"{json.dumps(k)}: {_compact(v)}" for k, v in head.items()) + ',\n"accounts": [\n')

    def _add(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered."""
        if self._parts:
            self._write("".join(self._parts))
            self._parts, self._size = [], 0

    def account(self, data: dict[str, Any]) -> None:
        """One account, one line."""
        self._add(("" if self._first else ",\n") + _compact(data))
        self._first = False

    def finish(self, rv: PortfolioReview) -> None:
        """Close the accounts list with the metrics and the summary."""
        tail = ", ".join(f"{json.dumps(k)}: {_compact(v)}" for k, v in designation.trailer(rv).items())
        self._add("\n],\n" + tail + "}\n")
        self.flush()


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=report.json_default)


@dataclass(frozen=True)
class ReviewReport:
    """What `kamrules portfolio` shows in table, CSV or Markdown form: the review and where its input came from."""

    review: PortfolioReview
    meta: dict[str, Any]


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(rows[0]) if rows else ["account"]


def review_csv(r: ReviewReport) -> str:
    """One row per account as CSV."""
    rows = account_rows(r.review)
    return report.csv_text(rows, _columns(rows), lineterminator="\n")


def review_markdown(r: ReviewReport) -> str:
    """The accounts table and the summary as Markdown."""
    rows = account_rows(r.review)
    accounts = report.table(rows, _columns(rows), "github", None)
    return "## Accounts\n\n" + accounts + "\n\n" + summary_text(r.review, r.meta, md=True) + "\n"


def review_text(r: ReviewReport) -> str:
    """The accounts table and the summary for the terminal."""
    rows = account_rows(r.review)
    return report.table(rows, _columns(rows), "simple", 40) + "\n\n" + summary_text(r.review, r.meta) + "\n"


def abc_dicts(rows: Sequence[AbcRow]) -> list[dict[str, Any]]:
    """JSON rows: Decimals (value, share, cumulative_share) as exact strings."""
    return [
        {
            "account": r.account,
            "value": str(r.value),
            "rank": r.rank,
            "share": str(r.share),
            "cumulative_share": str(r.cumulative_share),
            "class": r.cls,
        }
        for r in rows
    ]


@dataclass(frozen=True)
class AbcReport:
    """What `kamrules abc` shows: the classified rows and how they were classified."""

    rows: tuple[AbcRow, ...]
    computed: ComputedAbc | None
    metric: str
    method: str
    settings: Settings
    plot: str | None = None

    def counts(self) -> dict[str, int]:
        """Accounts per class, A to C."""
        return {c: sum(1 for r in self.rows if r.cls == c) for c in "ABC"}


def abc_json(a: AbcReport) -> str:
    """The ABC rows as JSON, with the cut-offs (fixed) or the computed limits; Decimals as exact strings."""
    doc: dict[str, Any] = {"metric": a.metric, "method": a.method, "counts": a.counts(), "accounts": abc_dicts(a.rows)}
    if a.computed is None:
        doc["cutoffs"] = {"a": str(a.settings.a_cut), "b": str(a.settings.b_cut)}
    else:
        lim = a.computed.limits
        doc["limits"] = {k: [str(x) for x in getattr(lim, k)] for k in ("pareto", "break_even", "ab_limit", "bc_limit")}
    if a.plot:
        doc["plot"] = a.plot
    return report.to_json(doc) + "\n"


def abc_text(a: AbcReport) -> str:
    """A headline with the class counts, then the ABC rows as a table."""
    table = [
        {
            "rank": r.rank,
            "account": r.account,
            "value": str(r.value),
            "share": percent(r.share, 2),
            "cumulative": percent(r.cumulative_share, 2),
            "class": r.cls,
        }
        for r in a.rows
    ]
    cutoffs = f", cut-offs {a.settings.a_cut}/{a.settings.b_cut}" if a.computed is None else ""
    head = f"ABC by {a.metric} ({a.method}{cutoffs}): " + ", ".join(f"{c} {n}" for c, n in a.counts().items())
    tail = f"\nPareto chart: {a.plot}" if a.plot else ""
    cols = list(table[0]) if table else ["rank"]
    body = tabulate([[t[c] for c in cols] for t in table], headers=cols, tablefmt="simple", disable_numparse=True)
    return head + "\n" + body + tail + "\n"
