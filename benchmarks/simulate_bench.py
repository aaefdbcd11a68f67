"""Time Monte Carlo runs of an 8-period scenario: `python benchmarks/simulate_bench.py [RUNS] [SCENARIO]`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from kamrules.engine.evaluate import Evaluator
from kamrules.scenarios import load_scenario, monte_carlo

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Load the scenario, run it RUNS times (default 1,000) and print runs per second."""
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    path = sys.argv[2] if len(sys.argv) > 2 else "scenarios/growth.yaml"
    # Scenario paths resolve against the current directory; the shipped ones expect the project root.
    os.chdir(ROOT)
    scenario = load_scenario(path)
    with Evaluator(scenario.ruleset) as ev:
        monte_carlo(scenario, 10, 0, evaluator=ev)  # warm-up: compile and first batch
        start = time.perf_counter()
        mc = monte_carlo(scenario, runs, 7, evaluator=ev)
        elapsed = time.perf_counter() - start
    periods = len(mc.periods)
    print(f"{scenario.name}: {runs} runs x {periods} periods = {runs * periods} evaluations in {elapsed:.2f} s")
    print(f"{runs / elapsed:,.0f} runs/s, {runs * periods / elapsed:,.0f} account evaluations/s")


if __name__ == "__main__":
    main()
