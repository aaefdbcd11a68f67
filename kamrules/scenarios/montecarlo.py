"""Monte Carlo: a single-account scenario run many times with random changes drawn, reproducibly for a seed."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from kamrules.engine import Evaluator
from kamrules.errors import InvalidInput, Span
from kamrules.lang import ALL_STAGES, STAGES, stage_index
from kamrules.scenarios.model import Scenario
from kamrules.scenarios.simulate import account_runs

DEFAULT_TARGET = "partnership-KAM"
# Runs advance in batches of this many and are counted as each batch ends, so memory stays flat however
# many runs are asked for. The draws of a batch come from one random.Random(seed) stream in batch
# order: up to CHUNK runs give exactly the numbers they gave when every run advanced at once.
CHUNK = 1000
# The time budget of one `simulate --runs`: runs x periods account evaluations, about 10 minutes at the
# ~2,000 evaluations/s of one core (benchmarks/simulate_bench.py); memory does not grow with the runs.
MAX_EVALUATIONS = 1_000_000


@dataclass(frozen=True)
class MonteCarlo:
    """Stage probabilities per period over many random runs, and the time to reach a target stage."""

    scenario: str
    runs: int
    seed: int
    target: str
    periods: tuple[str, ...]  # the period labels
    counts: tuple[dict[str, int], ...]  # per period: stage → runs ending the period there (every stage listed)
    time_counts: tuple[int, ...]  # time_counts[n]: runs that first reached the target after n periods

    def probabilities(self) -> list[dict[str, float]]:
        """Per period, the share of runs in each stage (sums to 1)."""
        return [{s: c / self.runs for s, c in row.items()} for row in self.counts]

    @property
    def reached(self) -> int:
        """How many runs reach the target stage."""
        return sum(self.time_counts)

    @property
    def never_share(self) -> float:
        """Share of runs that never reach the target stage."""
        return 1 - self.reached / self.runs

    @property
    def mean_time(self) -> float | None:
        """Mean periods to reach the target, among runs that reach it."""
        n = self.reached
        return sum(t * c for t, c in enumerate(self.time_counts)) / n if n else None

    def percentile(self, p: float) -> int | None:
        """Nearest-rank percentile of the time to reach the target, among runs that reach it (exact)."""
        if not self.reached:
            return None
        rank = max(math.ceil(p / 100 * self.reached) - 1, 0)
        seen = 0
        for t, c in enumerate(self.time_counts):
            seen += c
            if seen > rank:
                return t
        raise AssertionError("rank beyond the runs counted")  # rank < reached = the sum of the counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scenario": self.scenario,
            "runs": self.runs,
            "seed": self.seed,
            "periods": [
                {"period": label, "counts": dict(c), "probabilities": p}
                for label, c, p in zip(self.periods, self.counts, self.probabilities(), strict=True)
            ],
            "time_to_target": {
                "target": self.target,
                "reached": self.reached,
                "never_share": self.never_share,
                "mean_periods": self.mean_time,
                "p10": self.percentile(10),
                "p50": self.percentile(50),
                "p90": self.percentile(90),
            },
        }


def reached(stage: str, target: str) -> bool:
    """True when a stage is the target or later on the path (uncoupling-KAM reaches only itself)."""
    if target not in STAGES or stage not in STAGES:
        return stage == target
    return stage_index(stage) >= stage_index(target)


def monte_carlo(
    scenario: Scenario, runs: int, seed: int, target: str = DEFAULT_TARGET, evaluator: Evaluator | None = None
) -> MonteCarlo:
    """Run the scenario ``runs`` times with random.Random(seed); reproducible for a given seed."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    if scenario.is_portfolio:
        raise InvalidInput.at(
            scenario.portfolio_span or Span(scenario.file, 1, 1),
            "Monte Carlo (--runs) is not supported for portfolio scenarios",
            expected="kamrules simulate without --runs (the expected path)",
            found=f"a portfolio scenario ({len(scenario.portfolio)} accounts)",
            code="unsupported",
        )
    rng = random.Random(seed)
    # Only the stage of each run is read: no provenance is kept for it.
    ev = evaluator or Evaluator(scenario.ruleset, trace="none")
    start = scenario.single_account.facts["stage"]
    counts = [dict.fromkeys(ALL_STAGES, 0) for _ in scenario.steps]
    times = [0] * (len(scenario.steps) + 1)
    try:
        for done in range(0, runs, CHUNK):
            first: list[int | None] = [0 if reached(start, target) else None] * min(CHUNK, runs - done)
            for n, results in enumerate(account_runs(scenario, ev, len(first), lambda d: d.draw(rng)), start=1):
                row = counts[n - 1]
                for r, res in enumerate(results):
                    row[res.stage] += 1
                    if first[r] is None and reached(res.stage, target):
                        first[r] = n
            for t in first:
                if t is not None:
                    times[t] += 1
    finally:
        if evaluator is None:
            ev.close()
    return MonteCarlo(
        scenario.name,
        runs,
        seed,
        target,
        tuple(s.label for s in scenario.steps),
        tuple(counts),
        tuple(times),
    )
