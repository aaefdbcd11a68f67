"""The review's accounts as rows: typed values, their wording, their titles from facts.yaml, order and tables.

The same rows feed text, Markdown, CSV, XLSX and HTML: `account_row` gives typed values, `cell`
words one of them, `Columns` titles them from facts.yaml (`label` and `unit`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from kamrules.kam.review import AccountResult, PortfolioReview
from kamrules.lang.model import Fact
from kamrules.render.words import fixed, fmt, percent

__all__ = [
    "NUMERIC",
    "SORT_FIELDS",
    "STATUSES",
    "WIDTH",
    "Columns",
    "View",
    "account_row",
    "amount",
    "cell",
    "count",
    "displayed",
    "fit_table",
    "key_accounts",
    "ordered",
    "review_rows",
    "table",
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


def _key_account(a: AccountResult) -> bool:
    return bool(a.decision.key_account)


def _review(a: AccountResult) -> str:
    return a.status or ""


# The columns review_rows filters results on before it builds their rows.
_OF_RESULT: dict[str, Callable[[AccountResult], Any]] = {"key_account": _key_account, "review": _review}


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
    row["key_account"] = _key_account(a)
    row["review"] = _review(a)
    row["stage_current"] = d.stage_current or ""
    row["stage_recommended"] = d.stage_recommended or ""
    row["move"] = d.move
    row["action"] = d.actions[0]["text"] if d.actions else ""
    row["action_id"] = d.actions[0]["id"] if d.actions else ""
    return row


def review_rows(rv: PortfolioReview, where: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The review's account rows whose columns equal ``where``'s values (all rows without it), in table order.

    From the review's table when it has one, filtered there, so only the rows asked for become dicts.
    """
    where = dict(where or {})
    if rv.table is None:
        first = {c: v for c, v in where.items() if c in _OF_RESULT}
        chosen = (a for a in rv.accounts if all(_OF_RESULT[c](a) == v for c, v in first.items()))
        rows = (account_row(a, rv.metrics) for a in chosen)
        return [r for r in rows if all(r[c] == v for c, v in where.items() if c not in first)]
    import polars as pl  # a review holding a table has polars loaded already

    frame = rv.table.filter(*(pl.col(c) == v for c, v in where.items())) if where else rv.table
    return frame.drop("notes").to_dicts()


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


def status_group(rv: PortfolioReview, status: str, view: View) -> tuple[list[dict[str, Any]], int]:
    """The rows of the new, kept or lost key accounts a view shows (by revenue unless --sort; the first --top unless
    --all), and how many there are."""
    rows = ordered(review_rows(rv, {"review": status}), view.sort, "revenue")
    return (rows if view.all else rows[: view.top]), len(rows)


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


def count(n: int) -> str:
    """A count with thousands separators: '23,570'."""
    return f"{n:,}"
