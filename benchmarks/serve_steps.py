"""Where a batch's server time goes, step by step, without HTTP (process CPU time with polars' threads; medians).

    .venv/bin/python benchmarks/serve_steps.py [--batch-size 1000] [--runs 5] [--cross-check 4] [--detail full]

The steps of POST /v1/evaluate/batch as kamrules.serve.service runs them. The compact answer (default):
reading the body into columns, kamrules' computed facts on columns, the decision frame (the columnar plan,
with the seeded durable_rules cross-check), the record of the frame in a fresh decision log, the answer's
JSON. With --detail full: reading and checking the body, kamrules' computed facts, the columnar plan's
firings, the decisions built from them (with the cross-check), the record, the documents and their JSON.
The server's garbage collector settings (serve.run.collect_less) and its one polars thread apply, as in the server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # as each server process runs polars (kamrules.serve.run)

from serve_bench import ROOT, batch_bodies  # polars reads the variable when it is imported, below

from kamrules.audit import log as audit
from kamrules.engine.columnar import account_frame
from kamrules.kam import context as kam_context
from kamrules.kam.frame_facts import enriched
from kamrules.kam.scale import COLUMNS, decision_frame
from kamrules.render import service as words
from kamrules.render.decision import Evaluated
from kamrules.serve import columns, documents
from kamrules.serve.rules import batch_rules, load
from kamrules.serve.run import collect_less
from kamrules.serve.service import BATCH_CROSS_CHECK


def record_frame(path: Path, ruleset: Any, frame: Any) -> list[str]:
    """A frame recorded as the service's log writer records it: one transaction, committed."""
    with audit.Recorder(path, ruleset, "serve", at_once=True) as rec:
        return rec.add_frame(frame).to_list()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cross-check", type=int, default=BATCH_CROSS_CHECK)
    ap.add_argument("--detail", choices=("compact", "full"), default="compact")
    args = ap.parse_args()
    bodies = batch_bodies(args.runs + 1, args.batch_size)  # each run a different batch, as in serve_bench
    loaded, day = load(ROOT / "rules"), dt.date.today()
    rules = batch_rules(loaded, day, args.cross_check)
    plan = rules._plan
    assert plan is not None
    collect_less()
    times: dict[str, list[float]] = {}

    def step(name: str, fn: Callable[..., Any], *a: Any) -> Any:
        t0 = time.process_time()
        out = fn(*a)
        times.setdefault(name, []).append(time.process_time() - t0)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        for body in bodies if args.detail == "compact" else ():
            facts = step("read the body into columns", columns.batch_frame, body, loaded.ruleset, "POST batch")
            ready, notes = step("computed facts (columns)", enriched, facts, loaded.ruleset, loaded.settings)
            engines = (plan, rules.evaluator)
            frame = step(
                "decision frame (+ cross-check)",
                decision_frame,
                loaded.ruleset,
                ready,
                day,
                args.cross_check,
                1,
                engines,
                True,
            )
            ids = step(
                "record (frame, committed)", record_frame, Path(tmp) / "c.db", loaded.ruleset, frame.select(COLUMNS)
            )
            codes = [(n,) if n else () for n in notes.to_list()]
            text = step("answer JSON", words.compact_batch, frame, ids, codes, loaded.ruleset)
        for body in bodies if args.detail == "full" else ():  # the first run compiles and warms: left out
            reader = documents.batch_reader(loaded.ruleset, "POST /v1/evaluate/batch")
            accounts = step("read the body", documents.read_body, body, reader)
            prepared = step("computed facts", kam_context.prepare, rules.evaluator, accounts, loaded.settings)
            ready = [a for a, _ in prepared]
            frame = step("the plan's firings: frame", account_frame, loaded.ruleset, ready)
            step("the plan's firings: plan", plan.firings, frame)
            decisions = step("firings + decisions (+ cross-check)", rules.evaluate_sampled, ready)
            ids = step("record", audit.record, Path(tmp) / "a.db", decisions, loaded.ruleset, "serve")
            shown = Evaluated(tuple(decisions), loaded.ruleset, tuple(ids), tuple(n for _, n in prepared))
            doc = step("documents", words.batch_document, shown)
            text = step("JSON", words.compact, doc)
    total = 0.0
    for name, ts in times.items():
        median = statistics.median(ts[1:]) * 1000
        total += 0 if name.startswith("the plan's") else median  # inside "firings + decisions"
        print(f"{name}: {median:.1f} ms")
    n = args.batch_size
    print(
        f"total: {total:.0f} ms for {n} accounts ({n / total * 1000:,.0f} accounts/s on one core); "
        f"answer {len(text.encode()) / n:,.0f} bytes an account"
    )
    print(f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
