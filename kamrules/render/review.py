"""The output of `kamrules portfolio` and `kamrules abc`: text, Markdown, CSV and JSON.

JSON conventions: money values, shares and concentration figures from the ABC analysis are
exact Decimals written as strings ("0.8123..."), so nothing is rounded on the way; facts handed
to the rules (and echoed in each decision) are JSON numbers, as the engine sees them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _quote  # what json.dumps(ensure_ascii=False) quotes strings with
from typing import Any

import polars as pl

from kamrules.kam import AbcRow, ComputedAbc, Settings
from kamrules.kam.abc import AbcResult
from kamrules.kam.review import PortfolioReview
from kamrules.lang.model import Fact
from kamrules.render import decision as report
from kamrules.render import designation
from kamrules.render.columns import json_rows, view_frame
from kamrules.render.overview import overview
from kamrules.render.rows import Columns, View
from kamrules.render.tables import tabulate
from kamrules.render.words import percent

__all__ = ["AbcReport", "JsonStream", "ReviewReport", "review_head", "review_json"]


class JsonStream:
    """Writes the portfolio JSON document while accounts are evaluated, so no run holds it all in memory."""

    CHUNK = 1 << 20

    def __init__(self, write: Callable[[str], None], head: dict[str, Any]) -> None:
        self._write = write
        self._parts: list[str] = []
        self._size = 0
        self._first = True
        self._add(_head(head))

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
        self._add(_tail(rv))
        self.flush()


def review_head(
    meta: Mapping[str, Any],
    rules: dict[str, Any] | None,
    settings: Settings,
    version: str,
    run: str | None,
    traces: bool,
) -> dict[str, Any]:
    """What the portfolio JSON document says before its accounts (the command's; the service names no rules folder)."""
    head: dict[str, Any] = {"input": dict(meta)} | ({"rules": rules} if rules is not None else {})
    return head | {
        "rules_version": version,
        "settings": settings.to_dict(),
        "run": run,
        "accounts_as": "traces" if traces else "rows",
    }


def review_json(r: ReviewReport, head: Mapping[str, Any], put: Callable[[bytes], object]) -> None:
    """The portfolio JSON document with every account as its row of the account table, a slice of rows at a time."""
    put(_head(head).encode("utf-8"))
    for part in json_rows(view_frame(r.review, r.view, notes=True)):
        put(part)
    put(_tail(r.review, r.view).encode("utf-8"))


def _head(head: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: {_compact(v)}" for k, v in head.items()) + ',\n"accounts": [\n'


def _tail(rv: PortfolioReview, view: View | None = None) -> str:
    """Close the accounts list with the metrics and the summary (new, kept and lost as ``view`` shows them)."""
    items = designation.trailer(rv, view).items()
    return "\n],\n" + ", ".join(f"{json.dumps(k)}: {_compact(v)}" for k, v in items) + "}\n"


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=report.json_default)


@dataclass(frozen=True)
class ReviewReport:
    """What `kamrules portfolio` shows: the review, where its input and rules came from, and how much to show."""

    review: PortfolioReview
    meta: dict[str, Any]
    facts: Mapping[str, Fact] = field(default_factory=dict)
    view: View = field(default_factory=View)
    rules: str = ""  # where the rules came from, in words
    run_id: str = ""

    def text(self, md: bool) -> str:
        """The summary-first document, as text or Markdown."""
        return overview(self.review, self.meta, self.view, Columns(self.facts), md, self.rules, self.run_id)


def review_markdown(r: ReviewReport) -> str:
    """The summary, the key accounts and the changes as Markdown."""
    return r.text(md=True)


def review_text(r: ReviewReport) -> str:
    """The summary, the key accounts and the changes for the terminal."""
    return r.text(md=False)


@dataclass(frozen=True)
class AbcReport:
    """What `kamrules abc` shows: the classified rows and how they were classified."""

    rows: Sequence[AbcRow]  # an AbcResult keeps its arrays: JSON is written from them without row objects
    computed: ComputedAbc | None
    metric: str
    method: str
    settings: Settings
    plot: str | None = None

    def counts(self) -> dict[str, int]:
        """Accounts per class, A to C."""
        if isinstance(self.rows, AbcResult):
            return self.rows.counts()
        return {c: sum(1 for r in self.rows if r.cls == c) for c in "ABC"}


def abc_json(a: AbcReport) -> str:
    """The ABC rows as JSON, with the cut-offs (fixed) or the computed limits; Decimals as exact strings."""
    doc: dict[str, Any] = {"metric": a.metric, "method": a.method, "counts": a.counts(), "accounts": []}
    if a.computed is None:
        doc["cutoffs"] = {"a": str(a.settings.a_cut), "b": str(a.settings.b_cut)}
    else:
        lim = a.computed.limits
        doc["limits"] = {k: [str(x) for x in getattr(lim, k)] for k in ("pareto", "break_even", "ab_limit", "bc_limit")}
        if a.computed.notes:
            doc["notes"] = list(a.computed.notes)
    if a.plot:
        doc["plot"] = a.plot
    text = report.to_json(doc)
    if len(a.rows):
        # A million rows through json's indenting encoder (pure Python) take most of a run: the same text, built
        # column by column from the analysis' arrays.
        text = text.replace('"accounts": []', '"accounts": [\n' + _abc_rows_json(a.rows) + "\n  ]", 1)
    return text + "\n"


def _quoted(accounts: list[str]) -> pl.Series:
    """Each id as a JSON string, as json.dumps(ensure_ascii=False) writes it."""
    ids = pl.Series(accounts, dtype=pl.String)
    # json escapes only quotes, backslashes and control characters: ids without them just get quotes.
    if bool(ids.str.contains(r'["\\\x00-\x1f]').any()):
        return pl.Series([_quote(x) for x in accounts], dtype=pl.String)
    return pl.select(pl.concat_str([pl.lit('"'), pl.lit(ids), pl.lit('"')])).to_series()


def _abc_rows_json(rows: Sequence[AbcRow]) -> str:
    """The rows as report.to_json indents them inside the document (Decimal strings need no escaping)."""
    cols = rows.text_columns() if isinstance(rows, AbcResult) else AbcResult._of_rows(list(rows)).text_columns()
    frame = pl.DataFrame(
        {
            "account": _quoted(cols["account"]),
            "value": cols["value"],
            "rank": pl.int_range(1, len(cols["value"]) + 1, eager=True).cast(pl.String),
            "share": cols["share"],
            "cumulative_share": cols["cumulative_share"],
            "class": cols["class"],
        }
    )
    parts: list[pl.Expr | str] = ['    {\n      "account": ', pl.col("account")]
    for name in ("value", "rank", "share", "cumulative_share", "class"):
        q = "" if name == "rank" else '"'
        parts += [f',\n      "{name}": {q}', pl.col(name), q]
    parts.append("\n    }")
    exprs = [pl.lit(p) if isinstance(p, str) else p for p in parts]
    return str(frame.select(pl.concat_str(exprs).str.join(",\n")).item())


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
    if a.computed is not None and a.computed.notes:
        head += "".join(f"\nnote: {n}" for n in a.computed.notes)
    cols = list(table[0]) if table else ["rank"]
    body = tabulate([[t[c] for c in cols] for t in table], headers=cols, tablefmt="simple", disable_numparse=True)
    return head + "\n" + body + tail + "\n"
