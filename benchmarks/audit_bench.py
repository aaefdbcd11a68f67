"""What the decision log costs a portfolio review: bytes per account decision and added run time.

    .venv/bin/python benchmarks/audit_bench.py [N ...]    (default N = 20000)

For each N: writes the seeded account table of portfolio_bench.py and reviews it in this process three
times: without the log, with it (decisions recorded through Recorder.add batch by batch, as `kamrules
portfolio` does), and without it again. Reports the log's size per decision, the CPU time spent inside
Recorder.add, the review's CPU and wall time with the log and without it (the mean of the two unlogged
runs; CPU time because the machine is shared), and how long `audit verify` takes over the log.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from portfolio_bench import generate  # noqa: E402

from kamrules.audit import log as audit  # noqa: E402
from kamrules.audit import verify as verifying  # noqa: E402
from kamrules.inputs import read_review_input  # noqa: E402
from kamrules.kam import load_settings, load_structure_rules  # noqa: E402
from kamrules.kam import review as pf  # noqa: E402
from kamrules.lang.loader import load_ruleset  # noqa: E402


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


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["20000"]:
        bench(int(arg))
