"""The periodic review of an account table on columns: the same review as kamrules/kam/review.py, without row objects.

Facts (kamrules/kam/frame_facts.py), the eligibility pass, the ranks, the designation pass and the
new/kept/lost comparison are columns; the columnar rule plan decides every account and a seeded
sample of each pass goes through durable_rules (kamrules/kam/scale.py, exit 4 on a difference).
Only the accounts a report shows one by one become Decisions, built by the one Evaluator from the
plan's firings: the key accounts at once, any other (new, kept, lost) when a report asks for it.
``review_columns`` returns None for a table the column path cannot take exactly; the caller then
runs kamrules/kam/review.py on its rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from kamrules.engine import Evaluator
from kamrules.engine.columnar import RulePlan
from kamrules.engine.compute import review_date, with_computed
from kamrules.engine.evaluate import conflict_order
from kamrules.inputs.frames import AccountFrame
from kamrules.kam import selection as sel
from kamrules.kam.engines import CROSS_CHECK, SEED, CrossCheckError
from kamrules.kam.frame_facts import (
    NOTE,
    POTENTIAL_GIVEN,
    PREVIOUS,
    ROW_NOTES,
    FrameFacts,
    abc_position,
    engine_facts,
    nulls,
)
from kamrules.kam.potential import estimate
from kamrules.kam.prepare import Prepared
from kamrules.kam.review import AccountResult, PortfolioReview, slim
from kamrules.kam.scale import decision_frame, sample_positions
from kamrules.kam.settings import Settings
from kamrules.kam.structure import facts_of_keys, recommend_structure
from kamrules.lang import Account, RuleSet

__all__ = ["ColumnReview", "review_columns", "review_facts"]

RANK = "\x00rank"


@dataclass(frozen=True)
class ColumnReview:
    """The review, and the compact decision of every account (what the decision log records)."""

    review: PortfolioReview
    decisions: pl.DataFrame


def review_columns(
    frame: AccountFrame,
    ruleset: RuleSet,
    settings: Settings,
    structure_rules: RuleSet | None = None,
    as_of: dt.date | None = None,
    cross_check: int = CROSS_CHECK,
    seed: int = SEED,
) -> ColumnReview | None:
    """The review of an account table (no previous period but its previous_key_account column), or None."""
    ff = engine_facts(frame, ruleset, settings)
    return None if ff is None else review_facts(ff, ruleset, settings, structure_rules, as_of, cross_check, seed)


def review_facts(
    ff: FrameFacts,
    ruleset: RuleSet,
    settings: Settings,
    structure_rules: RuleSet | None = None,
    as_of: dt.date | None = None,
    cross_check: int = CROSS_CHECK,
    seed: int = SEED,
) -> ColumnReview:
    """The review of the accounts' facts (kam/frame_facts.py engine_facts)."""
    day = as_of or review_date()
    facts = ff.facts
    ranked = "eligible" in ruleset.facts and "selection_rank" in ruleset.facts
    ranks = pl.DataFrame({"account": [], RANK: []}, schema={"account": pl.String, RANK: pl.Int64})
    if ranked:
        ranks = _ranks(facts, _eligible(ruleset, facts, day, cross_check, seed))
        facts = facts.with_columns(
            pl.coalesce(pl.col("selection_rank"), pl.lit(_spread(facts, ranks))).alias("selection_rank")
        )
    decisions = decision_frame(ruleset, facts, day, cross_check, seed)
    table = _table(ruleset, ff, facts, decisions)
    indexed = table.select("account", "key_account").with_row_index("i")

    def resolve(ids: list[str]) -> list[AccountResult]:
        at = indexed.filter(pl.col("account").is_in(ids))["i"].to_list()
        made = {r.decision.account: r for r in _results(ruleset, ff, facts, at, day, settings)}
        return [made[i] for i in ids]

    results = _results(ruleset, ff, facts, indexed.filter("key_account")["i"].to_list(), day, settings)
    keys = [r.decision for r in results]
    revenue = table["revenue"]
    pfacts = facts_of_keys(keys, sum(revenue.filter(revenue > 0).to_list()), structure_rules)  # in account order
    structure = recommend_structure(pfacts, structure_rules)
    if ranked:
        chosen = _selection(ranks, table, settings.selection)
    else:
        chosen = sel.summary_of(0, int(table["key_account"].sum()), [], settings.selection)
    if "abc_revenue" in ruleset.facts and "revenue" not in ff.metrics:
        chosen["warnings"].append({"code": "no-revenue-column"})  # as review.py says it
    known = bool(facts[PREVIOUS].is_not_null().any())
    conc = ff.concentration
    rv = PortfolioReview(results, ff.metrics, conc, pfacts, structure, settings, ruleset.version, known, chosen, table)
    rv = replace(rv, resolve=resolve, abc=ff.abc)
    return ColumnReview(rv, decisions)


def _eligible(ruleset: RuleSet, facts: pl.DataFrame, day: dt.date, cross_check: int, seed: int) -> pl.Series:
    """The first pass: who is eligible, by the plan; its sample is cross-checked through durable_rules on its own."""
    eligible = RulePlan(ruleset, day).lazy(facts).select(pl.col("eligible").fill_null(False)).collect().to_series()
    if cross_check:
        picked = sample_positions(facts.height, cross_check, seed)
        checked = decision_frame(ruleset, facts[picked], day, len(picked))  # exit 4 on any difference
        if checked["derived"].struct.field("eligible").fill_null(False).to_list() != eligible[picked].to_list():
            raise CrossCheckError("the columnar plan decided eligibility differently on the portfolio and its sample")
    return eligible


def _ranks(facts: pl.DataFrame, eligible: pl.Series) -> pl.DataFrame:
    """sel.rank_eligible on columns: the eligible without a given rank by score, then revenue share; ties share."""
    share = pl.col("abc_revenue_share") if "abc_revenue_share" in facts.columns else pl.lit(0.0)
    score = pl.col("selection_score") if "selection_score" in facts.columns else pl.lit(0.0)
    scored = (
        facts.select("account", score.cast(pl.Float64).fill_null(0.0).alias("s"), share.fill_null(0.0).alias("r"))
        .filter(eligible & facts["selection_rank"].is_null())
        .sort(["s", "r"], descending=True, maintain_order=True)
        .with_row_index("pos", offset=1)
    )
    return scored.select("account", pl.col("pos").max().over("s", "r").cast(pl.Int64).alias(RANK))


def _spread(facts: pl.DataFrame, ranks: pl.DataFrame) -> pl.Series:
    """Each account's new rank (null when not ranked), in the facts' order."""
    return facts.select("account").join(ranks, on="account", how="left", maintain_order="left")[RANK]


def _action_text(ruleset: RuleSet) -> dict[str, str]:
    """Each action id's text, from the first rule in conflict order that takes it (as a Decision lists them)."""
    out: dict[str, str] = {}
    for r in sorted(ruleset.rules, key=conflict_order):
        for a in r.actions:
            out.setdefault(a.id, a.text)
    return out


def _table(ruleset: RuleSet, ff: FrameFacts, facts: pl.DataFrame, decisions: pl.DataFrame) -> pl.DataFrame:
    """The account rows (render/rows.py account_row's columns) and each account's notes, from columns."""
    given, derived = decisions["given"], decisions["derived"]
    gnames = {f.name for f in ruleset.given_facts()}
    dnames = {n for n, f in ruleset.facts.items() if f.derived}

    def g(name: str, dtype: Any = pl.Float64) -> pl.Series:
        return given.struct.field(name) if name in gnames else nulls("", len(given), dtype)

    def d(name: str, dtype: Any = pl.String) -> pl.Series:
        return derived.struct.field(name) if name in dnames else nulls("", len(given), dtype)

    texts = _action_text(ruleset)
    first = decisions["actions"].list.first()
    key = d("key_account", pl.Boolean).fill_null(False)
    previous = facts[PREVIOUS]
    status = (
        pl.when(previous.is_null())
        .then(pl.lit(""))
        .when(key & previous)
        .then(pl.lit("kept"))
        .when(key)
        .then(pl.lit("new"))
        .when(previous)
        .then(pl.lit("lost"))
        .otherwise(pl.lit(""))
    )
    cols: dict[str, Any] = {
        "account": decisions["account"],
        "name": decisions["name"].fill_null(""),
        "revenue": g("revenue"),
    }
    cols.update({f"abc_{m}": g(f"abc_{m}", pl.String).fill_null("") for m in ff.metrics})
    none = nulls("", len(given), pl.Float64)
    cols |= {
        "potential": g("potential_score"),
        "potential_confidence": ff.potential_confidence if ff.potential_confidence is not None else none,
        "quadrant": d("selection_quadrant").fill_null(""),
        "eligible": d("eligible", pl.Boolean).fill_null(False),
        "rank": g("selection_rank", pl.Int64),
        "selection_score": g("selection_score"),
        "key_account": key,
        "review": pl.select(status).to_series(),
        "stage_current": decisions["stage_current"].fill_null(""),
        "stage_recommended": decisions["stage_recommended"].fill_null(""),
        "move": decisions["move"],
        "action": first.replace_strict(texts, default="", return_dtype=pl.String).fill_null(""),
        "action_id": first.fill_null(""),
        "notes": pl.select(_notes(facts)).to_series(),
    }
    return pl.DataFrame([v.alias(k) for k, v in cols.items()])


def _notes(facts: pl.DataFrame) -> pl.Expr:
    """Each account's note codes: the input's for its row first, then the one its facts were computed with."""
    note = pl.lit(facts[NOTE])
    computed = pl.when(note.is_null()).then(pl.lit([], dtype=pl.List(pl.String))).otherwise(pl.concat_list(note))
    return pl.concat_list(pl.lit(facts[ROW_NOTES]), computed) if ROW_NOTES in facts.columns else computed


def _results(
    ruleset: RuleSet, ff: FrameFacts, facts: pl.DataFrame, at: list[int], day: dt.date, settings: Settings
) -> list[AccountResult]:
    """The AccountResults of the rows at ``at``: Decisions from the plan's firings, as review.py keeps them (slim)."""
    if not at:
        return []
    rows = facts[at]
    names = [n for n in ruleset.facts if n in rows.columns]
    accounts = [
        Account(str(r["account"]), {n: r[n] for n in names if r[n] is not None}, r["name"], r["origin"])
        for r in rows.iter_rows(named=True)
    ]
    with Evaluator(ruleset, as_of=day) as ev:
        decisions = ev.evaluate_many(accounts, firings=RulePlan(ruleset, day).firings(rows))
    out = []
    for a, dec, r in zip(accounts, decisions, rows.iter_rows(named=True), strict=True):
        abc = {m: result[r[abc_position(m)]] for m, result in ff.abc.items() if r[abc_position(m)] is not None}
        pot = None
        if "potential_score" in ruleset.facts:
            pot = estimate(with_computed(ruleset, a.facts), settings.weights)
        notes = (*(r.get(ROW_NOTES) or ()), *((r[NOTE],) if r[NOTE] else ()))
        prepared = Prepared(a, abc, pot, bool(r[POTENTIAL_GIVEN]), r[PREVIOUS], notes)
        out.append(AccountResult(slim(dec), prepared, r[PREVIOUS]))
    return out


def _selection(ranks: pl.DataFrame, table: pl.DataFrame, selection: sel.SelectionSettings) -> dict[str, Any]:
    """sel.summary on columns: counts, and the best-ranked eligible accounts left out by capacity."""
    keys = table.filter("key_account").select("account")
    nxt = (
        ranks.join(keys, on="account", how="anti")
        .sort([RANK, "account"])
        .head(selection.next_in_line)
        .join(table.select("account", "selection_score"), on="account", how="left", maintain_order="left")
    )
    rows = list(zip(nxt["account"].to_list(), nxt[RANK].to_list(), nxt["selection_score"].to_list(), strict=True))
    return sel.summary_of(ranks.height, keys.height, rows, selection)
