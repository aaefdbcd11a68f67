"""Time the portfolio's text, CSV and Parquet output from a seeded 1,000,000-row account table.

The example portfolio is reviewed as usual; its rows, then N seeded accounts that are neither key
accounts nor new, kept or lost, make the review's table (kamrules/kam/review.py:PortfolioReview.table),
as the columnar pipeline hands it over. Only the example's key accounts and changes stay AccountResults.

    python benchmarks/render_bench.py [--rows 1000000] [--baseline]

--baseline also times the csv module on the same rows turned into dicts (the writer without a table).
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl

from kamrules.inputs import read_review_input
from kamrules.kam import load_settings, load_structure_rules
from kamrules.kam.review import PortfolioReview, review
from kamrules.lang import load_ruleset
from kamrules.render import decision as report
from kamrules.render.columns import table_schema
from kamrules.render.export import neutral, review_csv, review_parquet
from kamrules.render.review import ReviewReport, review_text
from kamrules.render.rows import STATUSES, View, account_row

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261202
T = TypeVar("T")


def example_review() -> tuple[PortfolioReview, dict[str, str]]:
    """The example portfolio, reviewed with the shipped rules."""
    rules = ROOT / "rules"
    ruleset = load_ruleset(rules)
    rows, before, meta = read_review_input(str(ROOT / "examples" / "portfolio.csv"), False, None, None, None)
    rv = review(rows, ruleset, load_settings(rules), before, structure_rules=load_structure_rules(rules))
    return rv, meta


def synthetic(n: int, metrics: list[str], seed: int) -> pl.DataFrame:
    """N seeded accounts that are not key accounts: lognormal revenue (5% missing), a few odd names and tiny floats."""
    rng = np.random.default_rng(seed)
    revenue = np.round(rng.lognormal(10, 2, n), 2)
    names = np.array(["Ditta Rossi", "Bianchi, Verdi & C.", '=HYPERLINK("x")', 'Officine "Nord"', ""])
    classes = np.array(["A", "B", "C"])
    potential = rng.random(n)
    potential[rng.random(n) < 0.01] = 1e-5  # floats polars words differently from Python: patched one by one
    ids = pl.int_range(0, n, eager=True).cast(pl.String)
    cols = {
        "account": "S" + ids,
        "name": names[rng.integers(0, len(names), n)],
        "revenue": pl.Series(revenue).set(pl.Series(rng.random(n) < 0.05), None),
        **{f"abc_{m}": classes[rng.integers(0, 3, n)] for m in metrics},
        "potential": potential,
        "potential_confidence": np.round(rng.random(n), 2),
        "quadrant": np.array(["strategic", "star", "maintain", "streamline"])[rng.integers(0, 4, n)],
        "eligible": np.zeros(n, dtype=bool),
        "rank": pl.Series([None] * n, dtype=pl.Int64),
        "selection_score": rng.random(n),
        "key_account": np.zeros(n, dtype=bool),
        "review": np.full(n, ""),
        "stage_current": np.full(n, "pre-KAM"),
        "stage_recommended": np.full(n, "pre-KAM"),
        "move": np.full(n, "hold"),
        "action": np.full(n, "Estimate the customer's three-year potential"),
        "action_id": np.full(n, "assess-potential"),
        "notes": pl.Series([[]] * n, dtype=pl.List(pl.String)),
    }
    return pl.DataFrame(cols, schema=table_schema(metrics))


def table_review(rv: PortfolioReview, n: int, seed: int) -> PortfolioReview:
    """The example review with N more accounts, in table form."""
    own = pl.DataFrame(
        [account_row(a, rv.metrics) | {"notes": list(a.notes)} for a in rv.accounts], schema=table_schema(rv.metrics)
    )
    table = pl.concat([own, synthetic(n - own.height, rv.metrics, seed)])
    notable = [a for a in rv.accounts if a.decision.key_account or a.status in STATUSES]
    return replace(rv, accounts=notable, table=table)


def timed(label: str, run: Callable[[], T]) -> T:
    """Run ``run()``, print its wall time, return its result."""
    start = time.perf_counter()
    out = run()
    print(f"{label:<44} {time.perf_counter() - start:7.2f} s")
    return out


def main() -> None:
    """Build the table, then time each output."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--baseline", action="store_true", help="also time the csv module on the rows as dicts")
    args = parser.parse_args()
    rv, meta = example_review()
    big = timed(f"build the table ({args.rows:,} rows)", lambda: table_review(rv, args.rows, args.seed))
    for name, view in [("", View()), (" --key-only", View(key_only=True)), (" --sort name", View(sort="name"))]:
        r = ReviewReport(big, meta, view=view)
        text = timed(f"text{name}", partial(review_text, r))
        csv = timed(f"csv{name}", partial(review_csv, r))
        print(f"{'':<44} text {len(text):,} chars, csv {len(csv):,} chars")
    buf = io.BytesIO()
    timed("parquet", lambda: review_parquet(ReviewReport(big, meta), buf))
    if args.baseline and big.table is not None:  # the same bytes as the csv module writes from the rows
        rows = timed("baseline: the rows as dicts", big.table.drop("notes").to_dicts)
        names = list(rows[0])
        dicts = [{c: neutral(v) for c, v in x.items()} for x in rows]
        expected = timed("baseline: csv module on them", lambda: report.csv_text(dicts, names, "\n"))
        assert expected == review_csv(ReviewReport(big, meta)), "the column writer differs from the csv module"
        print("baseline: same bytes as the column writer")


if __name__ == "__main__":
    main()
