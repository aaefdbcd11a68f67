"""The review's rules stage on columns: a frame of account facts → the compact decision frame (docs/scale.md).

No per-account Python objects on the way: the columnar plan (engine/columnar.py) evaluates every
account at once and the frame holds what `kamrules.audit.records.compact(decision)` holds, column by
column (the contract shared with kamrules/audit/frames.py). A seeded random sample of ``cross_check``
accounts (default 1,000, all if fewer) goes through durable_rules too, and the first account where
the two disagree stops the run (CrossCheckError, exit 4).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from typing import Any

import polars as pl

from kamrules.engine import Decision, Evaluator
from kamrules.engine.columnar import RulePlan, by_column
from kamrules.engine.columnar_expr import DTYPES
from kamrules.engine.compute import review_date
from kamrules.kam.engines import CROSS_CHECK, SEED, CrossCheckError
from kamrules.lang import Account, RuleSet

__all__ = ["COLUMNS", "decision_frame", "decisions_row", "sample_positions"]

COLUMNS = (
    "account",
    "name",
    "origin",
    "given",
    "derived",
    "stage_current",
    "stage_recommended",
    "move",
    "stage_rule",
    "structure",
    "structure_rule",
    "actions",
    "fired",
    "as_of",
)
"""The compact decision frame's columns, in order (the frame contract)."""
OUTCOME = COLUMNS[COLUMNS.index("stage_current") : COLUMNS.index("fired") + 1]
"""The columns the rule plan's outcome already holds as the frame wants them."""


def decision_frame(
    ruleset: RuleSet,
    accounts: pl.DataFrame,
    as_of: dt.date | None = None,
    cross_check: int = CROSS_CHECK,
    seed: int = SEED,
    engines: tuple[RulePlan, Evaluator] | None = None,
    derived_by: bool = False,
) -> pl.DataFrame:
    """The compact decision of every row of ``accounts`` (columns `account`, optional `name` and `origin`, facts).

    ``engines``: a plan and an Evaluator of ``ruleset`` for that review date, kept by the caller (a service
    reuses them for every batch). ``derived_by``: one more column, `derived_by`, the rule (or "default") that
    set each derived fact; it is cross-checked too.
    """
    day = as_of or review_date()
    plan, kept = engines or (RulePlan(ruleset, day), None)
    have = set(accounts.columns)
    base = accounts.with_columns(
        # Each fact as the engine compares it (an integral number column read as Int64 is still a number).
        *(pl.col(n).cast(DTYPES[f.type]) for n, f in ruleset.facts.items() if n in have),
        *([] if "name" in have else [pl.lit(None, dtype=pl.String()).alias("name")]),
        *([] if "origin" in have else [pl.lit("", dtype=pl.String()).alias("origin")]),
    )
    # The review date is recorded only when a computed fact reads it, as Evaluator.as_of says.
    with contextlib.nullcontext(kept) if kept is not None else Evaluator(ruleset, as_of=day) as ev:
        stamp = ev.as_of
        given = [f.name for f in ruleset.given_facts()]
        derived = [n for n, f in ruleset.facts.items() if f.derived]
        out = (
            plan.outcome(base)
            .select(
                pl.col("account").cast(pl.String()),
                pl.col("name").cast(pl.String()),
                pl.col("origin").cast(pl.String()).fill_null(""),
                pl.struct(*(pl.col(n) for n in given)).alias("given") if given else pl.lit(None).alias("given"),
                pl.struct(
                    *(pl.when(pl.col(by_column(n)).is_not_null()).then(pl.col(n)).alias(n) for n in derived)
                ).alias("derived")
                if derived
                else pl.lit(None).alias("derived"),
                *OUTCOME,
                pl.lit(stamp, dtype=pl.Date()).alias("as_of"),
                *([_by_struct(derived)] if derived_by else []),
            )
            .collect()
        )
        if cross_check:
            _cross_check(ev, ruleset, base, out, cross_check, seed)
    return out


def _by_struct(derived: list[str]) -> pl.Expr:
    if not derived:
        return pl.lit(None).alias("derived_by")
    return pl.struct(*(pl.col(by_column(n)).alias(n) for n in derived)).alias("derived_by")


def _cross_check(ev: Evaluator, ruleset: RuleSet, base: pl.DataFrame, out: pl.DataFrame, n: int, seed: int) -> None:
    """Run a seeded sample of the rows through durable_rules; the first disagreement raises CrossCheckError."""
    picked = sample_positions(base.height, n, seed)
    sample = base[picked]
    facts = [f for f in ruleset.facts if f in sample.columns]
    accounts = [
        Account(str(r["account"]), {f: r[f] for f in facts if r[f] is not None}, r["name"], r["origin"] or "")
        for r in sample.iter_rows(named=True)
    ]
    durable = ev.evaluate_many(accounts, "none")  # the frame holds no provenance: none to build
    for d, row in zip(durable, out[picked].iter_rows(named=True), strict=True):
        want = decisions_row(d, ruleset)
        for key in (c for c in out.columns if c in want):
            if row[key] != want[key]:
                raise CrossCheckError(
                    f"the columnar review and durable_rules decided account '{d.account}' differently: "
                    f"{key}: columnar {row[key]!r}, durable_rules {want[key]!r}"
                )


def sample_positions(height: int, n: int, seed: int = SEED) -> list[int]:
    """The rows a cross-check takes: a seeded sample of n (all when fewer), in row order."""
    k = min(n, height)
    return sorted(random.Random(seed).sample(range(height), k)) if k < height else list(range(k))


def decisions_row(d: Decision, ruleset: RuleSet) -> dict[str, Any]:
    """One decision as a row of the compact frame (Python values, as `iter_rows(named=True)` gives them)."""
    given = {f.name: _typed(d.given.get(f.name), f.type) for f in ruleset.given_facts()}
    derived = {n: _typed(d.derived.get(n), f.type) for n, f in ruleset.facts.items() if f.derived}
    return {
        "account": d.account,
        "name": d.name,
        "origin": d.origin,
        "given": given or None,
        "derived": derived or None,
        "stage_current": d.stage_current,
        "stage_recommended": d.stage_recommended,
        "move": d.move,
        "stage_rule": d.stage_rule,
        "structure": d.structure,
        "structure_rule": d.structure_rule,
        "actions": [a["id"] for a in d.actions],
        "fired": d.fired,
        "as_of": d.as_of,
        "derived_by": {n: d.derived_by.get(n) for n, f in ruleset.facts.items() if f.derived} or None,
    }


def _typed(v: Any, fact_type: str) -> Any:
    # A number fact's column is Float64: an integral value given as 5 reads back as 5.0.
    return float(v) if fact_type == "number" and v is not None else v
