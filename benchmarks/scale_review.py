"""The rules stage at scale: the columnar plan against durable_rules and zen-engine on the same rules and accounts.

    .venv/bin/python benchmarks/scale_review.py [--accounts 10000,100000,1000000] [--durable 5000] [--zen 5000]

A seeded generator draws every given fact of the shipped rules (rules/) in its range or values, each
missing with probability 0.1. For each size it reports wall time of each step and the process's peak RSS:
building the account frame, the columnar plan into the compact decision frame (kamrules/kam/scale.py,
with the default 1,000-account durable_rules cross-check), and per-account rates of durable_rules
(kamrules' Evaluator, full provenance) and of zen-engine (one decision graph: every rule as an
expression node output, strata chained) on a subsample. Figures go to docs/scale.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

import polars as pl

from kamrules import Evaluator, load_ruleset
from kamrules.engine.columnar import DTYPES, RulePlan
from kamrules.kam.scale import decision_frame
from kamrules.lang.model import Account, AllOf, AnyOf, Leaf, Not

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 9, 30)


def generate(ruleset, n: int, seed: int = 7) -> pl.DataFrame:
    """n accounts with every given fact drawn in its range (10% missing), seeded; numpy for speed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cols: dict[str, pl.Series] = {"account": pl.Series("account", [f"C{i:07d}" for i in range(n)])}
    for f in ruleset.given_facts():
        if f.type in ("number", "integer"):
            lo, hi = f.range or (0, 100)
            lo, hi = max(lo, -1e6), min(hi, 1e7)
            v = rng.uniform(lo, hi, n)
            s = pl.Series(f.name, np.round(v) if f.type == "integer" else v).cast(DTYPES[f.type])
        elif f.type == "boolean":
            s = pl.Series(f.name, rng.random(n) < 0.5)
        elif f.type in ("enum", "string"):
            vals = list(f.values or ["a", "b", "c"])
            s = pl.Series(f.name, np.array(vals, dtype=object)[rng.integers(0, len(vals), n)], dtype=pl.String())
        else:
            days = rng.integers(-2000, 0, n)
            s = (pl.lit(AS_OF) + pl.duration(days=pl.Series(days))).alias(f.name)
            s = (
                pl.select(pl.lit(AS_OF, dtype=pl.Date()).alias("d"))
                .select((pl.col("d").cast(pl.Int32) + pl.Series(days).cast(pl.Int32)).cast(pl.Date).alias(f.name))
                .to_series()
            )
        mask = pl.Series(rng.random(n) < 0.1)
        cols[f.name] = pl.select(pl.when(mask).then(None).otherwise(s)).to_series().alias(f.name)
    return pl.DataFrame(cols)


def accounts_of(frame: pl.DataFrame) -> list[Account]:
    """The frame's rows as Account objects (what the durable_rules path needs)."""
    return [
        Account(r.pop("account"), {k: v for k, v in r.items() if v is not None}) for r in frame.iter_rows(named=True)
    ]


def zen_expression(cond) -> str:
    """A condition in ZEN's expression language (a missing fact is null; a comparison on null is false)."""
    if isinstance(cond, AllOf):
        return "(" + " and ".join(zen_expression(c) for c in cond.children) + ")"
    if isinstance(cond, AnyOf):
        return "(" + " or ".join(zen_expression(c) for c in cond.children) + ")"
    if isinstance(cond, Not):
        return f"not ({zen_expression(cond.child)})"
    return zen_leaf(cond)


def _lit(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.date):
        return str((v - dt.date(1970, 1, 1)).days)
    return json.dumps(v)


def zen_leaf(leaf: Leaf) -> str:
    f = leaf.fact
    if leaf.op == "exists":
        return f"({f} != null)"
    if leaf.op == "missing":
        return f"({f} == null)"
    if leaf.value_of is not None:
        right = leaf.value_of
        if leaf.times is not None:
            right = f"({right} * {leaf.times})"
        if leaf.plus is not None:
            right = f"({right} + {leaf.plus})"
        guard = f"{f} != null and {leaf.value_of} != null"
    else:
        right = None
        guard = f"{f} != null"
    sym = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
    if leaf.op in sym:
        return f"({guard} and {f} {sym[leaf.op]} {right if right is not None else _lit(leaf.value)})"
    if leaf.op == "in":
        return f"({guard} and {f} in [{', '.join(_lit(v) for v in leaf.value)}])"
    if leaf.op == "not_in":
        return f"({guard} and not ({f} in [{', '.join(_lit(v) for v in leaf.value)}]))"
    lo, hi = leaf.value
    return f"({guard} and {f} >= {_lit(lo)} and {f} <= {_lit(hi)})"


def zen_graph(ruleset) -> dict:
    """One expression node per stratum: each rule's boolean; derived facts settled by a following node."""
    nodes, edges = [{"id": "in", "type": "inputNode", "name": "in"}], []
    prev = "in"
    for s in range(ruleset.strata):
        layer = sorted((r for r in ruleset.rules if r.stratum == s), key=lambda r: (-r.priority, r.id))
        exprs = [
            {"id": f"e{r.id}", "key": f"fired_{r.id.replace('-', '_')}", "value": zen_expression(r.when)} for r in layer
        ]
        # Derived facts (a node of their own: a node's expressions see only its input): the first rule in
        # conflict order wins (nested ternaries), else the default.
        settle = []
        for fname, fact in ruleset.facts.items():
            derivers = [(r, v) for r in layer for d, v in r.derive if d == fname]
            if derivers:
                tail = _lit(fact.default) if fact.default is not None else "null"
                for r, v in reversed(derivers):
                    tail = f"(fired_{r.id.replace('-', '_')} ? {_lit(v)} : {tail})"
                settle.append({"id": f"d{fname}{s}", "key": fname, "value": tail})
        for nid, exprs_of in ((f"n{s}", exprs), (f"s{s}", settle)):
            nodes.append(
                {
                    "id": nid,
                    "type": "expressionNode",
                    "name": nid,
                    "content": {
                        "expressions": exprs_of,
                        "passThrough": True,
                        "inputField": None,
                        "outputPath": None,
                        "executionMode": "single",
                    },
                }
            )
            edges.append({"id": f"x{nid}", "sourceId": prev, "targetId": nid, "type": "edge"})
            prev = nid
    nodes.append({"id": "out", "type": "outputNode", "name": "out"})
    edges.append({"id": "xo", "sourceId": prev, "targetId": "out", "type": "edge"})
    return {"nodes": nodes, "edges": edges}


def encoded(frame: pl.DataFrame) -> list[dict]:
    """Rows as zen gets them: dates as days since 1970 (as durable_rules gets them)."""
    dates = [c for c, t in frame.schema.items() if t == pl.Date]
    return frame.with_columns(pl.col(c).cast(pl.Int32) for c in dates).to_dicts()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--accounts", default="10000,100000,1000000")
    p.add_argument("--durable", type=int, default=5000, help="subsample for the durable_rules rate")
    p.add_argument("--zen", type=int, default=5000, help="subsample for the zen-engine rate")
    a = p.parse_args()
    rs = load_ruleset(ROOT / "rules")
    print(
        f"rules: {len(rs.rules)} in {rs.strata} strata, {len(rs.given_facts())} given facts;",
        f"python {sys.version.split()[0]}, polars {pl.__version__}",
    )
    for n in [int(x) for x in a.accounts.split(",")]:
        t = time.perf_counter()
        frame = generate(rs, n)
        t_gen = time.perf_counter() - t
        t = time.perf_counter()
        RulePlan(rs, AS_OF).firings(frame.head(1))  # warm: polars' first call
        t = time.perf_counter()
        out = decision_frame(rs, frame, AS_OF, cross_check=0)
        t_plan = time.perf_counter() - t
        t = time.perf_counter()
        decision_frame(rs, frame, AS_OF, cross_check=1000)
        t_checked = time.perf_counter() - t
        print(
            f"{n:>8} accounts: generate {t_gen:.2f}s, plan→compact frame {t_plan:.2f}s "
            f"({n / t_plan:,.0f}/s), with 1,000-account cross-check {t_checked:.2f}s, "
            f"{out.height} decisions, peak RSS {peak_mb():,.0f} MB"
        )
    sub = generate(rs, max(a.durable, a.zen), seed=11)
    accs = accounts_of(sub.head(a.durable))
    with Evaluator(rs, as_of=AS_OF) as ev:
        t = time.perf_counter()
        for i in range(0, len(accs), 2000):
            ev.evaluate_many(accs[i : i + 2000])
        t_dur = time.perf_counter() - t
    print(f"durable_rules (Evaluator, full provenance): {len(accs) / t_dur:,.0f} accounts/s on {len(accs)}")
    t = time.perf_counter()
    decision_frame(rs, sub.head(a.durable), AS_OF, cross_check=0)
    t_same = time.perf_counter() - t
    print(f"columnar plan on the same {a.durable}: {a.durable / t_same:,.0f} accounts/s")
    try:
        import zen
    except ImportError:
        print("zen-engine not installed (pip install -e '.[bench]'): no zen figure")
        return
    engine = zen.ZenEngine()
    decision = engine.create_decision(json.dumps(zen_graph(rs)))
    rows = encoded(sub.head(a.zen))
    decision.evaluate(rows[0])
    t = time.perf_counter()
    for r in rows:
        decision.evaluate(r)
    t_zen = time.perf_counter() - t
    print(f"zen-engine per account: {len(rows) / t_zen:,.0f} accounts/s on {len(rows)}")


if __name__ == "__main__":
    main()
