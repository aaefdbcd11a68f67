"""Accounts/s from several threads: one shared Evaluator (a lock around each engine round trip) or one per thread.

.venv/bin/python benchmarks/threads_bench.py [--accounts 8000] [--threads 8] [--batch 50]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine_bench import synthetic_account

from kamrules import Evaluator, load_ruleset
from kamrules.lang.model import Account

ROOT = Path(__file__).resolve().parent.parent


def timed(threads: int, work: Callable[[int], None]) -> float:
    """Seconds for ``threads`` threads each running work(k)."""
    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=8000)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--batch", type=int, default=50)
    args = p.parse_args()
    rs = load_ruleset(ROOT / "rules")
    rng = random.Random(1)
    per = args.accounts // args.threads
    work: list[list[Account]] = [
        [synthetic_account(rng, rs, k * per + i) for i in range(per)] for k in range(args.threads)
    ]

    def batches(ev: Evaluator, k: int) -> None:
        for lo in range(0, per, args.batch):
            ev.evaluate_many(work[k][lo : lo + args.batch])

    with Evaluator(rs) as shared:
        serial = timed(1, lambda _k: [batches(shared, k) for k in range(args.threads)])
        together = timed(args.threads, lambda k: batches(shared, k))

    def own(k: int) -> None:
        with Evaluator(rs) as ev:
            batches(ev, k)

    apart = timed(args.threads, own)
    n = per * args.threads
    print(f"{n:,} accounts, batch {args.batch}, full provenance")
    print(f"  one thread:                           {n / serial:,.0f} accounts/s")
    print(f"  {args.threads} threads, one shared Evaluator:    {n / together:,.0f} accounts/s")
    print(f"  {args.threads} threads, one Evaluator per thread: {n / apart:,.0f} accounts/s (includes creating them)")


if __name__ == "__main__":
    main()
