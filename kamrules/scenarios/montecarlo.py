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


@dataclass(frozen=True)
class MonteCarlo:
    """Stage probabilities per period over many random runs, and the time to reach a target stage."""

    scenario: str
    runs: int
    seed: int
    target: str
    periods: tuple[str, ...]  # the period labels
    counts: tuple[dict[str, int], ...]  # per period: stage → runs ending the period there (every stage listed)
    times: tuple[int, ...]  # periods taken to reach the target, one per run that reached it

    def probabilities(self) -> list[dict[str, float]]:
        """Per period, the share of runs in each stage (sums to 1)."""
        return [{s: c / self.runs for s, c in row.items()} for row in self.counts]

    @property
    def never_share(self) -> float:
        """Share of runs that never reach the target stage."""
        return 1 - len(self.times) / self.runs

    @property
    def mean_time(self) -> float | None:
        """Mean periods to reach the target, among runs that reach it."""
        return sum(self.times) / len(self.times) if self.times else None

    def percentile(self, p: float) -> int | None:
        """Nearest-rank percentile of the time to reach the target, among runs that reach it."""
        if not self.times:
            return None
        ordered = sorted(self.times)
        return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]

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
                "reached": len(self.times),
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
    ev = evaluator or Evaluator(scenario.ruleset)
    start = scenario.single_account.facts["stage"]
    first: list[int | None] = [0 if reached(start, target) else None] * runs
    counts = []
    try:
        for n, results in enumerate(account_runs(scenario, ev, runs, lambda d: d.draw(rng)), start=1):
            row = dict.fromkeys(ALL_STAGES, 0)
            for r, res in enumerate(results):
                row[res.stage] += 1
                if first[r] is None and reached(res.stage, target):
                    first[r] = n
            counts.append(row)
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
        tuple(t for t in first if t is not None),
    )
