"""Evaluate N seeded synthetic accounts through the engine; print accounts/s and memory over the run.

    .venv/bin/python benchmarks/engine_bench.py --accounts 100000 [--batch 500] [--seed 1] [--engine-only]

--engine-only times durable_rules alone (assert a batch, read the firings, retract) on the same
accounts, without settling derived facts or building any provenance: the ceiling of the engine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import sys
import time
from pathlib import Path

from kamrules import Evaluator, load_ruleset
from kamrules.engine.compiler import encode_value
from kamrules.engine.durable import Engine
from kamrules.lang.model import Account

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc), or peak where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_account(rng: random.Random, ruleset, i: int) -> Account:
    """A random valid account: each given fact present with probability 0.8."""
    facts = {}
    for f in ruleset.given_facts():
        if rng.random() > 0.8:
            continue
        if f.type == "enum":
            facts[f.name] = rng.choice(f.values)
        elif f.type == "boolean":
            facts[f.name] = rng.random() < 0.5
        elif f.type == "date":
            facts[f.name] = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(1000))
        elif f.type == "integer":
            lo, hi = f.range
            facts[f.name] = rng.randint(int(lo), int(min(hi, lo + 20)))
        elif f.type == "number":
            lo, hi = f.range
            span = min(hi - lo, 10.0) if hi - lo <= 100 else 5e6
            facts[f.name] = round(max(lo, min(hi, lo + rng.random() * span if lo >= 0 else rng.random() * span)), 3)
    return Account(f"ACC-{i:07d}", facts)


def engine_only(args: argparse.Namespace) -> None:
    """Fire every stratum of the rules on the accounts through the Engine, nothing more."""
    rs = load_ruleset(args.rules)
    rng = random.Random(args.seed)
    facts = [{k: encode_value(v) for k, v in synthetic_account(rng, rs, i).facts.items()} for i in range(args.accounts)]
    firings = 0
    start = time.perf_counter()
    with Engine(rs) as engine:
        for lo in range(0, len(facts), args.batch):
            for stratum in range(rs.strata):
                firings += sum(len(f) for f in engine.fire(facts[lo : lo + args.batch], stratum))
    elapsed = time.perf_counter() - start
    print(
        f"durable_rules alone, {rs.strata} strata, no provenance: {args.accounts / elapsed:,.0f} accounts/s, "
        f"{firings / elapsed:,.0f} firings/s ({args.accounts:,} accounts, batch {args.batch})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rules", default=str(ROOT / "rules"))
    p.add_argument("--engine-only", action="store_true", help="time durable_rules alone, no provenance")
    args = p.parse_args()
    if args.engine_only:
        engine_only(args)
        return
    rs = load_ruleset(args.rules)
    rng = random.Random(args.seed)
    fired = 0
    samples = []
    in_engine = 0.0
    start = time.perf_counter()
    with Evaluator(rs) as ev:
        for lo in range(0, args.accounts, args.batch):
            batch = [synthetic_account(rng, rs, i) for i in range(lo, min(lo + args.batch, args.accounts))]
            t0 = time.perf_counter()
            decisions = ev.evaluate_many(batch)
            in_engine += time.perf_counter() - t0
            fired += sum(len(d.reasons) for d in decisions)
            done = lo + len(batch)
            if done % max(args.accounts // 10, args.batch) < args.batch:
                samples.append((done, rss_mb()))
        elapsed = time.perf_counter() - start
    print(f"rules: {len(rs.rules)}  accounts: {args.accounts:,}  batch: {args.batch}  seed: {args.seed}")
    print(
        f"elapsed: {elapsed:.1f} s, of which evaluation {in_engine:.1f} s  ->  "
        f"{args.accounts / in_engine:,.0f} accounts/s evaluated with full provenance "
        f"({fired / args.accounts:.1f} firings per account)"
    )
    print("RSS by accounts done: " + ", ".join(f"{n:,}: {mb:.0f} MB" for n, mb in samples))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")
    if len(samples) >= 3:
        warm, end = samples[1][1], samples[-1][1]
        print(f"RSS growth after warm-up ({samples[1][0]:,} → {samples[-1][0]:,} accounts): {end - warm:+.1f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
