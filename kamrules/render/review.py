"""Reading the input of `kamrules portfolio` / `kamrules abc` and rendering their output.

JSON conventions: money values, shares and concentration figures from the ABC analysis are
exact Decimals written as strings ("0.8123..."), so nothing is rounded on the way; facts handed
to the rules (and echoed in each decision) are JSON numbers, as the engine sees them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from tabulate import tabulate

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.inputs.signals import add_signals
from kamrules.inputs.tables import (
    AccountRow,
    aggregate_invoices,
    parse_column_mapping,
    parse_period,
    read_account_table,
    read_invoice_lines,
)
from kamrules.kam.abc import AbcRow, ComputedAbc, abc_classes, computed_abc
from kamrules.kam.review import PortfolioReview, Settings
from kamrules.render import decision as report
from kamrules.render.selection import note_text, selection_lines, selection_text
from kamrules.render.words import trace_text

__all__ = ["abc_rows", "read_rows", "render_abc", "render_portfolio"]


def read_rows(
    path: str, transactions: bool, period: str | None, previous: str | None, columns: str | None
) -> tuple[list[AccountRow], list[AccountRow] | None, dict]:
    """The current rows, the previous period's rows (invoices only) and a description of the input."""
    mapping = parse_column_mapping(columns) if columns else None
    if not transactions:
        return read_account_table(path, mapping), None, {"file": path, "kind": "accounts"}
    p = parse_period(period or "", "--period")
    pp = parse_period(previous, "--previous") if previous else p.previous()
    if pp.end >= p.start:
        raise InvalidInput(
            [
                Problem(
                    Span("--previous"),
                    f"the previous period {pp.label} does not come before {p.label}",
                    expected=f"a period ending before {p.start.isoformat()}",
                    found=f"{pp.start.isoformat()}..{pp.end.isoformat()}",
                    code="period",
                )
            ]
        )
    lines = read_invoice_lines(path, mapping)
    if not any(li.date in p for li in lines):
        first, last = min(li.date for li in lines), max(li.date for li in lines)
        raise InvalidInput(
            [
                Problem(
                    Span(path),
                    f"no invoice lines in {p.label}",
                    expected=f"lines dated {p.start.isoformat()}..{p.end.isoformat()}",
                    found=f"lines from {first.isoformat()} to {last.isoformat()}",
                    code="period",
                    help="choose a --period the file covers",
                )
            ]
        )
    cur = add_signals(aggregate_invoices(lines, p, pp, source=path), lines, p)
    before = add_signals(aggregate_invoices(lines, pp, pp.previous(), source=path), lines, pp)
    return cur, before, {"file": path, "kind": "invoices", "period": p.label, "previous_period": pp.label}


def _top_action(d) -> str:
    return d.actions[0]["id"] if d.actions else ""


def account_rows(rv: PortfolioReview) -> list[dict]:
    """One flat row per account for table, CSV and Markdown."""
    out = []
    for a in rv.accounts:
        d = a.decision
        row = {"account": d.account, "name": d.name or ""}
        for m in rv.metrics:
            row[f"abc_{m}"] = d.given.get(f"abc_{m}", "")
        pot = d.given.get("potential_score")
        row["potential"] = (
            ""
            if pot is None
            else f"{pot:.2f}" + ("" if a.potential_given or not a.potential else f" ({a.potential.confidence:.0%})")
        )
        row["quadrant"] = d.derived.get("selection_quadrant", "")
        row["eligible"] = "yes" if d.derived.get("eligible") else "no"
        row["rank"] = d.given.get("selection_rank", "")
        row["key_account"] = "yes" if d.key_account else "no"
        row["review"] = a.status or ""
        row["stage"] = f"{d.stage_current or '-'} → {d.stage_recommended or '-'}"
        row["move"] = d.move
        row["top_action"] = _top_action(d)
        out.append(row)
    return out


def _names(entries: list[dict]) -> str:
    return (
        ", ".join(
            f"{e['account']}" + (f" ({e['name']})" if e.get("name") and e["name"] != e["account"] else "")
            for e in entries
        )
        or "none"
    )


def _fig(x: str | None, spec: str) -> str:
    return "n/a" if x is None else format(float(x), spec)


def summary_text(rv: PortfolioReview, meta: dict, md: bool = False) -> str:
    """The review, concentration and structure as text (Markdown when md)."""
    s = rv.summary()
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
            f"{b}{m}: top 20% of accounts ({c['top20_accounts']}) hold {_fig(c['top20_share'], '.1%')}, "
            f"Gini {_fig(c['gini'], '.3f')}, HHI {_fig(c['hhi'], '.4f')}"
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
            ("must not hold: " if ".not." in f".{c['path']}." else "")
            + trace_text(c)[:-1]
            + f": {'holds' if c['holds'] else 'does not hold'})"
            for c in r["conditions"]
        )
        lines.append(f"{b}{r['rule']}: {' '.join((r['description'] or '').split())}")
        lines.append(f"{b}  because {conds}")
    return "\n".join(lines)


class JsonStream:
    """Writes the portfolio JSON document while accounts are evaluated, so no run holds it all in memory."""

    CHUNK = 1 << 20

    def __init__(self, write: Callable[[str], None], head: dict) -> None:
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

    def account(self, data: dict) -> None:
        """One account, one line."""
        self._add(("" if self._first else ",\n") + _compact(data))
        self._first = False

    def finish(self, rv: PortfolioReview) -> None:
        """Close the accounts list with the metrics and the summary."""
        tail = ", ".join(f"{json.dumps(k)}: {_compact(v)}" for k, v in rv.trailer().items())
        self._add("\n],\n" + tail + "}\n")
        self.flush()


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=report.json_default)


def render_portfolio(rv: PortfolioReview, fmt: str, meta: dict) -> str:
    """The review in table, csv or markdown form (JSON is streamed by JsonStream)."""
    rows = account_rows(rv)
    cols = list(rows[0]) if rows else ["account"]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "markdown":
        return "## Accounts\n\n" + report.table(rows, cols, "github", None) + "\n\n" + summary_text(rv, meta, md=True)
    return report.table(rows, cols, "simple", 40) + "\n\n" + summary_text(rv, meta)


def abc_rows(
    path: str, metric: str, method: str, settings: Settings, columns: str | None = None
) -> tuple[list[AbcRow], ComputedAbc | None]:
    """The ABC analysis of one numeric column of an account table; a row without a number is an error."""
    rows = read_account_table(path, parse_column_mapping(columns) if columns else None)
    if not any(metric in r.facts for r in rows):
        raise InvalidInput(
            [
                Problem(
                    rows[0].span if rows else Span(path),
                    f"no column '{metric}' in the table",
                    expected=f"a column named '{metric}' (or --columns {metric}=<column>)",
                    found="columns " + ", ".join(sorted({k for r in rows for k in r.facts})),
                    code="missing-column",
                )
            ]
        )
    problems: list[Problem] = []
    values: dict[str, Decimal] = {}
    for r in rows:
        v = r.facts.get(metric)
        if isinstance(v, bool) or not isinstance(v, (Decimal, int)):
            problems.append(
                Problem(
                    r.span,
                    f"account '{r.account}' has no number for '{metric}'",
                    expected=f"a number in column '{metric}'",
                    found="an empty cell" if v is None else repr(v),
                    code="abc-value",
                )
            )
        else:
            values[r.account] = Decimal(v)
    if problems:
        raise InvalidInput(problems)
    if method == "computed":
        c = computed_abc(values, path)
        return c.rows, c
    return abc_classes(values, settings.a_cut, settings.b_cut), None


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


def render_abc(
    rows: Sequence[AbcRow],
    computed: ComputedAbc | None,
    metric: str,
    method: str,
    settings: Settings,
    fmt: str,
    plot: str | None,
) -> str:
    """The ABC rows as a table or JSON."""
    counts = {c: sum(1 for r in rows if r.cls == c) for c in "ABC"}
    if fmt == "json":
        doc: dict[str, Any] = {"metric": metric, "method": method, "counts": counts, "accounts": abc_dicts(rows)}
        if computed is None:
            doc["cutoffs"] = {"a": str(settings.a_cut), "b": str(settings.b_cut)}
        else:
            lim = computed.limits
            doc["limits"] = {
                k: [str(x) for x in getattr(lim, k)] for k in ("pareto", "break_even", "ab_limit", "bc_limit")
            }
        if plot:
            doc["plot"] = plot
        return report.to_json(doc)
    table = [
        {
            "rank": r.rank,
            "account": r.account,
            "value": str(r.value),
            "share": f"{float(r.share):.2%}",
            "cumulative": f"{float(r.cumulative_share):.2%}",
            "class": r.cls,
        }
        for r in rows
    ]
    head = (
        f"ABC by {metric} ({method}"
        + (f", cut-offs {settings.a_cut}/{settings.b_cut}" if computed is None else "")
        + "): "
        + ", ".join(f"{c} {n}" for c, n in counts.items())
    )
    tail = f"\nPareto chart: {plot}" if plot else ""
    cols = list(table[0]) if table else ["rank"]
    body = tabulate([[t[c] for c in cols] for t in table], headers=cols, tablefmt="simple", disable_numparse=True)
    return head + "\n" + body + tail
