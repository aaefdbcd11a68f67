"""An account frame → the engine's facts as columns, with ABC, potential and selection score, as prepare.py makes them.

The column form of kamrules/kam/prepare.py for a clean account table: every value is what the
row path hands the engine (numbers as the same floats, integers as ints), every computed fact is
the same formula over whole columns. ``engine_facts`` returns None for a table it cannot take
exactly (a column that is not one type, a value out of range, an unknown or derived column): the
caller then takes the row path, which reports every problem with its cell, or reviews the table as
before. Float sums are left folds in the order selection.py and potential.py add their terms.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from kamrules.engine.columnar_expr import DTYPES, computed_expr, divide, round_series
from kamrules.engine.compute import before_rules
from kamrules.inputs.frames import AccountFrame
from kamrules.inputs.tables import NOT_FACTS
from kamrules.kam import selection as sel
from kamrules.kam.abc import AbcResult, _fits
from kamrules.kam.abc_frame import classify_units
from kamrules.kam.concentration import Concentration, concentration_of_units
from kamrules.kam.potential import DEFAULT_WEIGHTS
from kamrules.kam.prepare import METRICS
from kamrules.kam.settings import Settings
from kamrules.lang import RuleSet
from kamrules.lang.model import Fact

__all__ = [
    "NOTE",
    "POTENTIAL_GIVEN",
    "PREVIOUS",
    "ROW_NOTES",
    "FrameFacts",
    "abc_position",
    "engine_facts",
    "enriched",
    "nulls",
]

NOTE = "\x00note"
ROW_NOTES = "\x00row_notes"  # the notes the input gave its rows (invoice totals: first-order), before NOTE's
PREVIOUS = "\x00previous"  # previous_key_account, null when unknown
POTENTIAL_GIVEN = "\x00potential_given"  # the table gave potential_score


def nulls(name: str, n: int, dtype: Any) -> pl.Series:
    """A column of n missing values."""
    return pl.repeat(None, n, dtype=dtype, eager=True).alias(name)


def abc_position(metric: str) -> str:
    """The facts frame's column of each account's place in the metric's ABC analysis (null: not analysed)."""
    return f"\x00abc:{metric}"


"""The facts frame's column of note codes (null: none)."""
_EXACT_INT = 2**53  # below this an integer is an exact float, and a quotient of two is correctly rounded


@dataclass(frozen=True)
class FrameFacts:
    """The facts frame (one row per account, input order) and what it was computed from."""

    facts: pl.DataFrame  # account, name, origin, previous_key, notes, one column per declared fact
    metrics: list[str]
    abc: dict[str, AbcResult]  # metric → the analysis (each account's place in it: column abc_position(metric))
    concentration: dict[str, Concentration]
    potential_confidence: pl.Series | None  # the estimate's confidence where the row did not give a potential


def engine_facts(
    frame: AccountFrame, ruleset: RuleSet, settings: Settings, observed: frozenset[str] = frozenset()
) -> FrameFacts | None:
    """The engine's facts of every account, or None when the table needs the row path.

    ``observed``: the columns kamrules computed (invoice totals and signals), checked as prepare.py checks
    them, for type and finiteness only, never against the fact's range.
    """
    acc = frame.accounts
    cols: list[pl.Series] = [acc["account"]]
    for name in acc.columns[1:]:
        col = _column(name, acc[name], ruleset.facts.get(name), name in observed)
        if col is None:
            return None
        cols.append(col)
    have = {c.name for c in cols}
    typed = [nulls(n, acc.height, DTYPES[f.type]) for n, f in ruleset.facts.items() if n not in have]
    df = pl.DataFrame([*cols, *typed])
    if "name" not in have:
        df = df.with_columns(pl.lit(None, dtype=pl.String()).alias("name"))
    previous = pl.col("previous_key_account") if "previous_key_account" in have else pl.lit(None, dtype=pl.Boolean())
    df = df.with_columns(
        previous.alias(PREVIOUS),
        # str(Span): a row without a line (invoice totals) is its file's
        pl.when(pl.lit(frame.lines) > 0)
        .then(pl.concat_str(pl.lit(frame.file + ":"), pl.lit(frame.lines.cast(pl.String())), pl.lit(":1")))
        .otherwise(pl.lit(frame.file))
        .alias("origin"),
    )
    metrics = [m for m in METRICS if f"abc_{m}" in ruleset.facts and m in have and acc[m].null_count() < acc.height]
    abc: dict[str, AbcResult] = {}
    conc: dict[str, Concentration] = {}
    for m in metrics:
        done = _abc(df, acc[m], m, ruleset, settings)
        if done is None:
            return None
        df, abc[m], conc[m] = done
    if "key_account_before" in ruleset.facts:  # continuity in the selection score
        df = df.with_columns(pl.coalesce("key_account_before", PREVIOUS).alias("key_account_before"))
    df, confidence, notes = _potential(df, ruleset, settings)
    df = _enrich(df, ruleset, settings.selection).with_columns(notes.alias(NOTE))
    return FrameFacts(df.rechunk(), metrics, abc, conc, confidence)


def enriched(df: pl.DataFrame, ruleset: RuleSet, settings: Settings) -> tuple[pl.DataFrame, pl.Series]:
    """sel.enrich on columns (potential, selection score, capacity, review interval), and each row's note (or null).

    ``df`` has a column for every given fact (null: missing), as the engine takes them; no ABC analysis.
    """
    df, _confidence, notes = _potential(df, ruleset, settings)
    return _enrich(df, ruleset, settings.selection).drop(POTENTIAL_GIVEN), notes


def _column(name: str, s: pl.Series, fact: Fact | None, observed: bool = False) -> pl.Series | None:
    """A table column as the engine's values (None: a column the row path must read)."""
    if name == "name":
        return s if s.dtype == pl.String else None
    if name == "previous_key_account":
        return s if s.dtype == pl.Boolean or s.null_count() == len(s) else None
    if name in NOT_FACTS or fact is None or not fact.given:
        return None
    if s.null_count() == len(s):
        return nulls(name, len(s), DTYPES[fact.type])
    if fact.type in ("number", "integer"):
        if observed and s.dtype == pl.Float64:  # a computed signal, a float as the row path hands it on
            return s if fact.type == "number" and bool(s.drop_nulls().is_finite().all()) else None
        return _number(s, fact, observed)
    want = {"boolean": pl.Boolean, "string": pl.String, "enum": pl.String, "date": pl.Date}[fact.type]
    if s.dtype != want:
        return None
    if fact.type == "enum" and not bool(s.drop_nulls().is_in(list(fact.values or ())).all()):
        return None
    return s


def _number(s: pl.Series, fact: Fact, observed: bool = False) -> pl.Series | None:
    """A Decimal column as prepare._engine_value makes it: float for a number fact, int for an integral integer one."""
    if not isinstance(s.dtype, pl.Decimal):
        return None
    scale = s.dtype.scale or 0
    phys = s.to_physical()
    big = max(abs(int(phys.min())), abs(int(phys.max())))  # type: ignore[arg-type]
    small = phys.cast(pl.Int64) if big < _EXACT_INT else None
    if fact.type == "integer":
        if small is None or bool((small % 10**scale != 0).any()):
            return None
        out = small // 10**scale
    elif small is not None:  # both exact floats: IEEE division is float(Decimal), correctly rounded
        # numpy divides (polars multiplies by the reciprocal, which is not correctly rounded)
        quotient = small.fill_null(0).to_numpy() / float(10**scale)
        out = pl.Series(quotient, dtype=pl.Float64).set(small.is_null(), None)
    else:
        out = pl.Series([None if v is None else float(v) for v in s.to_list()], dtype=pl.Float64)
    out = pl.Series(s.name, out)
    if not observed and fact.range is not None and not bool(out.drop_nulls().is_between(*fact.range).all()):
        return None
    return out


def _abc(
    df: pl.DataFrame, col: pl.Series, m: str, ruleset: RuleSet, settings: Settings
) -> tuple[pl.DataFrame, AbcResult, Concentration] | None:
    """The ABC facts of one metric on the accounts that have it (a class the table gives is kept)."""
    if not isinstance(col.dtype, pl.Decimal):
        return None
    have = col.is_not_null()
    ints = col.filter(have).to_physical()
    n = len(ints)
    if not _fits(int(ints.min()), int(ints.max()), n):
        return None
    units = ints.cast(pl.Int64).to_numpy()
    scale = col.dtype.scale or 0
    ids = df["account"].filter(have)
    result = classify_units(ids, None, units, scale, settings.a_cut, settings.b_cut)
    order, ranked, cum = result._order, result._ranked, result._cum
    npos, total = len(cum), result._total
    if total >= _EXACT_INT:
        return None  # shares would not be the row path's floats: it computes them
    k = np.empty(n, dtype=np.int64)
    k[order] = np.arange(n)
    share = np.zeros(n)
    cumulative = np.full(n, 1.0 if total > 0 else 0.0)
    if total > 0:
        share[:npos] = ranked[:npos] / total  # in rank order; exact integers below 2**53
        cumulative[:npos] = cum / total
    classes = np.array(["C"] * n, dtype=object)
    classes[: result._n_a] = "A"
    classes[result._n_a : result._n_ab] = "B"
    values = {
        f"abc_{m}": pl.Series(classes[k].tolist(), dtype=pl.String),
        f"abc_{m}_rank": pl.Series(k + 1, dtype=pl.Int64),
        f"abc_{m}_share": pl.Series(share[k], dtype=pl.Float64),
        f"abc_{m}_cumulative_share": pl.Series(cumulative[k], dtype=pl.Float64),
    }
    at = pl.Series(np.flatnonzero(have.to_numpy()), dtype=pl.Int64)
    place = nulls(abc_position(m), df.height, pl.Int64).scatter(at, pl.Series(k, dtype=pl.Int64))
    updates = []
    for name, s in values.items():
        if name in ruleset.facts:
            dtype = DTYPES[ruleset.facts[name].type]
            full = nulls(name, df.height, dtype).scatter(at, s.cast(dtype))
            updates.append(pl.coalesce(pl.col(name), pl.lit(full)).alias(name))  # the table's own class first
    return df.with_columns(*updates, place), result, concentration_of_units(units, scale)


def _fold(terms: list[pl.Expr]) -> pl.Expr:
    """A left fold of float terms, as selection.py and potential.py add them."""
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


def _potential(df: pl.DataFrame, ruleset: RuleSet, settings: Settings) -> tuple[pl.DataFrame, Any, pl.Series]:
    """potential_score and potential_confidence where not given (potential.estimate on columns), and note codes."""
    declared = ruleset.facts
    none = nulls(NOTE, df.height, pl.String)
    if "potential_score" not in declared:
        if "potential_confidence" in declared:
            note = _note(df, pl.col("potential_confidence").is_null(), "potential-without-confidence")
            return df.with_columns(pl.lit(False).alias(POTENTIAL_GIVEN)), None, note
        return df.with_columns(pl.lit(False).alias(POTENTIAL_GIVEN)), None, none
    known = df
    for f in before_rules(ruleset):  # in dependency order, one at a time: a computed fact may read an earlier one
        known = known.with_columns(computed_expr(f, dt.date.min))
    w = dict(DEFAULT_WEIGHTS if settings.weights is None else settings.weights)
    total = sel.fold(v for v in w.values() if v > 0)
    # component: (the fact it reads, shift, divisor), as potential.components reads them
    reads = {
        "trend": ("revenue_growth", 0.5, 1.0),
        "sustained": ("revenue_trend", 0.5, 1.0),
        "attractiveness": ("attractiveness", 0.0, 10.0),
    }
    terms, weights = [], []
    for comp, (fact, shift, div) in reads.items():
        wk = w.get(comp, 0)
        if wk <= 0:
            continue
        x = pl.col(fact).cast(pl.Float64) if fact in known.columns else pl.lit(None, dtype=pl.Float64())
        c = ((x + shift) if shift else divide(x, div)).clip(0.0, 1.0)
        terms.append(pl.when(x.is_not_null()).then(wk * c).otherwise(0.0))
        weights.append(pl.when(x.is_not_null()).then(pl.lit(float(wk))).otherwise(0.0))
    if not terms or total <= 0:
        score = nulls("", df.height, pl.Float64)
        conf = pl.repeat(0.0, df.height, dtype=pl.Float64, eager=True)
    else:
        raw = known.select((_fold(terms) / _fold(weights)).alias("s"), divide(_fold(weights), total).alias("c"))
        some = known.select(_fold(weights) > 0).to_series()
        score = round_series(raw["s"], 6, exact=round).set(~some, None)
        conf = round_series(raw["c"], 6, exact=round)
    given = df["potential_score"].is_not_null()
    out = df.with_columns(given.alias(POTENTIAL_GIVEN))
    out = out.with_columns(pl.coalesce(pl.col("potential_score"), pl.lit(score)).alias("potential_score"))
    notes = _note(df, ~given & score.is_null(), "potential-unknown")
    if "potential_confidence" in declared:
        lacking = given & df["potential_confidence"].is_null()
        notes = notes.set(lacking, "potential-without-confidence")
        computed = pl.when(~pl.lit(given) & pl.lit(score).is_not_null()).then(pl.lit(conf))
        out = out.with_columns(pl.coalesce(pl.col("potential_confidence"), computed).alias("potential_confidence"))
    return out, conf.set(given, None), notes


def _note(df: pl.DataFrame, where: Any, code: str) -> pl.Series:
    """The note column: ``code`` where ``where`` holds, null elsewhere (this path has at most one note per row)."""
    cond = pl.lit(where) if isinstance(where, pl.Series) else where
    return df.select(pl.when(cond).then(pl.lit(code)).otherwise(None).alias(NOTE)).to_series()


def _enrich(df: pl.DataFrame, ruleset: RuleSet, selection: sel.SelectionSettings) -> pl.DataFrame:
    """selection_score, key_account_capacity and review_interval_days where declared and not given (sel.enrich)."""
    declared, out = ruleset.facts, []
    if "selection_score" in declared:
        out.append(pl.coalesce(pl.col("selection_score"), _score(df, selection.weights)).alias("selection_score"))
    constants = {"key_account_capacity": selection.capacity, "review_interval_days": selection.review_interval_days}
    for fname, value in constants.items():
        if fname in declared:
            out.append(pl.col(fname).fill_null(pl.lit(value, dtype=DTYPES[declared[fname].type])))
    return df.with_columns(*out) if out else df


def _score(df: pl.DataFrame, weights: dict[str, float]) -> pl.Series:
    """sel.selection_score on columns, rounded as Python rounds."""

    def col(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Float64) if name in df.columns else pl.lit(None, dtype=pl.Float64())

    points = {"A": 1.0, "B": 0.5}
    comps: dict[str, pl.Expr] = {}
    for m in ("abc_revenue", "abc_margin", "abc_volume", "abc_purchases"):
        c = pl.col(m).cast(pl.String) if m in df.columns else pl.lit(None, dtype=pl.String())
        comps[m] = c.replace_strict(points, default=0.0, return_dtype=pl.Float64).fill_null(0.0)
    pot, conf = col("potential_score"), col("potential_confidence")
    comps["potential"] = (pot * conf).clip(0.0, 1.0).fill_null(0.0)
    comps["relative_strength"] = divide(col("relative_strength"), 10.0).clip(0.0, 1.0).fill_null(0.0)
    comps["share_of_wallet"] = col("share_of_wallet").clip(0.0, 1.0).fill_null(0.0)
    before = pl.col("key_account_before") if "key_account_before" in df.columns else pl.lit(None, dtype=pl.Boolean())
    comps["continuity"] = pl.when(before.fill_null(False)).then(1.0).otherwise(0.0)
    total = sel.fold(weights.values())
    if total <= 0:
        return pl.repeat(0.0, df.height, dtype=pl.Float64, eager=True)
    raw = df.select(divide(_fold([weights.get(k, 0.0) * comps[k] for k in sel.COMPONENTS]), total)).to_series()
    return round_series(raw, 6, exact=round)
