"""One Evaluator shared by many threads gives every account the decision a serial run gives it."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from kamrules import Evaluator, load_account
from kamrules.lang.model import Account

ROOT = Path(__file__).resolve().parent.parent
THREADS = 8
PER_THREAD = 1000


def varied_accounts(ruleset, n: int, seed: int) -> list[Account]:
    """The example accounts, each number moved at random within its fact's range: n different accounts."""
    bases = [load_account(p, ruleset) for p in sorted((ROOT / "examples" / "accounts").glob("*.yaml"))]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        facts = dict(bases[i % len(bases)].facts)
        for name, value in facts.items():
            fact = ruleset.facts[name]
            if fact.type == "number" and fact.range and not isinstance(value, bool):
                lo, hi = fact.range
                facts[name] = min(max(value * rng.uniform(0.3, 1.7) + rng.uniform(-1, 1), lo), hi)
        out.append(Account(f"{bases[i % len(bases)].id}-{seed}-{i}", facts))
    return out


def test_shared_evaluator_across_threads_equals_serial(ruleset):
    """8 threads x 1,000 accounts through one Evaluator: the same decisions as one thread, none lost or mixed."""
    work = [varied_accounts(ruleset, PER_THREAD, seed) for seed in range(THREADS)]
    with Evaluator(ruleset, trace="fired") as ev:
        serial = [[d.to_dict() for d in ev.evaluate_many(accounts)] for accounts in work]
        results: list[list[dict] | BaseException] = [[] for _ in range(THREADS)]
        start = threading.Barrier(THREADS)

        def run(k: int) -> None:
            try:
                start.wait()
                # Small batches and single accounts interleave the threads' engine round trips as much as possible.
                out = [d.to_dict() for lo in range(0, PER_THREAD, 7) for d in ev.evaluate_many(work[k][lo : lo + 7])]
                results[k] = out
            except BaseException as err:  # an error in a thread must fail the test, not vanish
                results[k] = err

        threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for k in range(THREADS):
        assert not isinstance(results[k], BaseException), results[k]
        assert results[k] == serial[k]
    assert len({d["account"] for s in serial for d in s}) == THREADS * PER_THREAD
    assert len({tuple(d["fired"]) for s in serial for d in s}) > 10  # the accounts really differ
