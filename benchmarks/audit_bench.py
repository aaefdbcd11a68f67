"""What the decision log costs a portfolio review: bytes per account decision and added run time.

    .venv/bin/python benchmarks/audit_bench.py [N ...]    (default N = 20000)
    .venv/bin/python benchmarks/audit_bench.py --frame [N ...]    (default N = 1000000)

For each N: writes the seeded account table of portfolio_bench.py and reviews it in this process three
times: without the log, with it (decisions recorded through Recorder.add batch by batch, as `kamrules
portfolio` does), and without it again. Reports the log's size per decision, the CPU time spent inside
Recorder.add, the review's CPU and wall time with the log and without it (the mean of the two unlogged
runs; CPU time because the machine is shared), and how long `audit verify` takes over the log.

With --frame: builds a seeded synthetic compact decision frame of N decisions directly (the columns a
columnar review hands over, values drawn like portfolio_bench.py's table and its ABC analysis), records it
with Recorder.add_frame and reports wall and CPU time of recording, bytes per decision, `audit verify` and
`audit show` of the last decision.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from portfolio_bench import generate  # noqa: E402

from kamrules.audit import frames  # noqa: E402
from kamrules.audit import log as audit  # noqa: E402
from kamrules.audit import verify as verifying  # noqa: E402
from kamrules.inputs import read_review_input  # noqa: E402
from kamrules.kam import load_settings, load_structure_rules  # noqa: E402
from kamrules.kam import review as pf  # noqa: E402
from kamrules.lang import RuleSet  # noqa: E402
from kamrules.lang.loader import load_ruleset  # noqa: E402

SEED = 20260701
STAGES = ["pre-KAM", "early-KAM", "mid-KAM", "partnership-KAM", "synergistic-KAM", "uncoupling-KAM"]


def bench(n: int) -> None:
    """Review N accounts without and with the log; print size and time figures."""
    rules = str(ROOT / "rules")
    ruleset, settings = load_ruleset(rules), load_settings(rules)
    structure_rules = load_structure_rules(rules)
    with tempfile.TemporaryDirectory() as tmp:
        src, db = Path(tmp) / "portfolio.csv", Path(tmp) / "audit.sqlite"
        generate(src, n)
        rows, before, _ = read_review_input(str(src), False, None, None, None)

        def unlogged() -> tuple[float, float]:
            t0, c0 = time.perf_counter(), time.process_time()
            pf.review(rows, ruleset, settings, before, on_batch=lambda _r: None, structure_rules=structure_rules)
            return time.perf_counter() - t0, time.process_time() - c0

        first = unlogged()

        in_add = [0.0]
        t0, c0 = time.perf_counter(), time.process_time()
        with audit.Recorder(db, ruleset, "portfolio") as log:

            def on_batch(results: list[pf.AccountResult]) -> None:
                t = time.process_time()
                log.add([r.decision for r in results])
                in_add[0] += time.process_time() - t

            rv = pf.review(rows, ruleset, settings, before, on_batch=on_batch, structure_rules=structure_rules)
            if rv.structure.decision:
                log.add([rv.structure.decision], structure_rules, kind="portfolio")
        logged, logged_cpu = time.perf_counter() - t0, time.process_time() - c0
        # Unlogged runs before and after the logged one: the mean is fair to both orders.
        last = unlogged()
        plain, plain_cpu = (first[0] + last[0]) / 2, (first[1] + last[1]) / 2

        t0 = time.perf_counter()
        v = verifying.verify(db)
        t_verify = time.perf_counter() - t0
        assert v.ok, v.broken
        size = sum(p.stat().st_size for p in Path(tmp).glob("audit.sqlite*"))
    print(
        f"N={n:,}: log {size / 1e6:.2f} MB = {size / v.decisions:.0f} bytes per decision "
        f"({v.decisions:,} decisions in {v.records} records, rule text included); "
        f"Recorder.add {in_add[0]:.2f}s CPU = {in_add[0] / plain_cpu:.1%} of the review's CPU time"
    )
    print(
        f"N={n:,}: review CPU {plain_cpu:.1f}s without the log, {logged_cpu:.1f}s with it "
        f"({logged_cpu / plain_cpu - 1:+.1%}); wall {plain:.1f}s and {logged:.1f}s; audit verify {t_verify:.1f}s"
    )


def _given(ruleset: RuleSet, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """The given facts a review hands the rules, by column; facts the table does not give stay empty."""
    rev = np.round(rng.lognormal(10.0, 1.4, n), 2)
    cols: dict[str, object] = {
        "revenue": rev,
        "revenue_previous": np.round(rev * rng.uniform(0.6, 1.4, n), 2),
        "volume": np.floor(rev / rng.uniform(5, 40, n)),
        "purchases": rng.integers(1, 201, n),
        "margin": np.round(rev * rng.uniform(0.05, 0.35, n), 2),
        "stage": np.array(STAGES)[rng.integers(0, 6, n)],
        "stage_since": dt.date(2021, 1, 1) + pl.Series(rng.integers(0, 1800, n)).cast(pl.Duration("ms")) * 86_400_000,
        "trust_score": np.round(rng.uniform(0, 10, n), 1),
        "contact_pairs": rng.integers(0, 21, n),
        "functions_involved": rng.integers(0, 9, n),
        "attractiveness": np.round(rng.uniform(0, 10, n), 1),
        "relative_strength": np.round(rng.uniform(0, 10, n), 1),
        "share_of_wallet": np.where(rng.random(n) < 0.25, np.nan, np.round(rng.uniform(0, 1, n), 2)),
        "regions": rng.integers(0, 9, n),
        "executive_sponsor": rng.random(n) < 0.5,
        "priorities_changed": rng.random(n) < 0.05,
        "key_account_before": rng.random(n) < 0.2,
        "potential_score": np.round(rng.uniform(0, 1, n), 4),
        "potential_confidence": np.round(rng.choice([1 / 3, 2 / 3, 1.0], n), 6),
        "selection_score": np.round(rng.uniform(0, 1, n), 4),
        "key_account_capacity": np.full(n, 24),
        "review_interval_days": np.full(n, 180),
    }
    for metric in ("revenue", "volume", "purchases", "margin"):  # ABC: rank, share, cumulative share, class
        values = np.asarray(cols[metric], dtype=float)
        order = np.argsort(-values, kind="stable")
        rank, cumulative = np.empty(n, np.int64), np.empty(n)
        rank[order] = np.arange(1, n + 1)
        share = values / values.sum()
        cumulative[order] = np.cumsum(share[order])
        cols[f"abc_{metric}"] = np.where(cumulative <= 0.8, "A", np.where(cumulative <= 0.95, "B", "C"))
        cols[f"abc_{metric}_rank"], cols[f"abc_{metric}_share"] = rank, share
        cols[f"abc_{metric}_cumulative_share"] = cumulative
    fields = frames.frame_schema(ruleset)["given"].to_schema()  # type: ignore[attr-defined]
    return pl.DataFrame(
        [
            pl.Series(k, cols[k], nan_to_null=True).cast(t) if k in cols else pl.Series(k, [None] * n, t)
            for k, t in fields.items()
        ]
    )


def synthetic_frame(ruleset: RuleSet, n: int, seed: int = SEED) -> pl.DataFrame:
    """A seeded compact decision frame of N account decisions under the rule set, built by column."""
    rng = np.random.default_rng(seed)
    given = _given(ruleset, n, rng)
    derived = pl.DataFrame(
        {
            "eligible": rng.random(n) < 0.1,
            "at_risk": rng.random(n) < 0.05,
            "key_account": rng.random(n) < 0.02,
            "selection_quadrant": np.array(["status", "strategic", "streamline", "maintain"])[rng.integers(0, 4, n)],
            "contact_model": np.array(["bow-tie", "diamond"])[rng.integers(0, 2, n)],
        }
    )
    # Outcomes: 64 combinations of fired rules and actions, as a rule set's few paths give them.
    rule_ids = [r.id for r in ruleset.rules]
    action_ids = sorted({a.id for r in ruleset.rules for a in r.actions})
    fired = [sorted(rng.choice(rule_ids, rng.integers(2, 7), replace=False).tolist()) for _ in range(64)]
    actions = [sorted(rng.choice(action_ids, rng.integers(0, 4), replace=False).tolist()) for _ in range(64)]
    pick = pl.Series(rng.integers(0, 64, n))
    moves = np.array(["hold", "advance", "regress", "uncouple"])[rng.choice(4, n, p=[0.8, 0.1, 0.05, 0.05])]
    i = pl.int_range(0, n, eager=True).cast(pl.String)
    frame = pl.DataFrame(
        {
            "account": "A" + i.str.zfill(7),
            "name": "Customer " + i,
            "origin": "portfolio.csv:" + (pl.int_range(2, n + 2, eager=True).cast(pl.String)) + ":1",
            "given": given.to_struct("given"),
            "derived": derived.to_struct("derived"),
            "stage_current": given["stage"],
            "stage_recommended": given["stage"],
            "move": moves,
            "stage_rule": pl.Series(np.where(moves == "hold", "", "early-to-mid")).replace("", None),
            "structure": pl.Series([None] * n, dtype=pl.String),
            "structure_rule": pl.Series([None] * n, dtype=pl.String),
            "actions": pl.Series(actions, dtype=pl.List(pl.String)).gather(pick),
            "fired": pl.Series(fired, dtype=pl.List(pl.String)).gather(pick),
            "as_of": pl.Series([dt.date(2026, 9, 30)] * n),
        }
    )
    return frame.select(frames.frame_schema(ruleset).names()).cast(frames.frame_schema(ruleset))  # type: ignore[arg-type]


def bench_frame(n: int) -> None:
    """Record a synthetic frame of N decisions; print time, size, verify and show figures."""
    ruleset = load_ruleset(str(ROOT / "rules"))
    frame = synthetic_frame(ruleset, n)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "audit.sqlite"
        t0, c0 = time.perf_counter(), time.process_time()
        with audit.Recorder(db, ruleset, "portfolio") as log:
            ids = log.add_frame(frame)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        size = sum(p.stat().st_size for p in Path(tmp).glob("audit.sqlite*"))
        t0 = time.perf_counter()
        v = verifying.verify(db)
        t_verify = time.perf_counter() - t0
        assert v.ok and v.decisions == n, v.broken
        t0 = time.perf_counter()
        entry = audit.show(db, ids[-1])
        t_show = time.perf_counter() - t0
        assert entry.account == frame["account"][-1]
    print(
        f"frame N={n:,}: recorded in {wall:.2f}s wall, {cpu:.2f}s CPU ({v.records} records); "
        f"log {size / 1e6:.1f} MB = {size / n:.0f} bytes per decision, rule text included; "
        f"audit verify {t_verify:.2f}s; audit show of the last decision {t_show:.2f}s"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--frame"]:
        for arg in args[1:] or ["1000000"]:
            bench_frame(int(arg))
    else:
        for arg in args or ["20000"]:
            bench(int(arg))
