"""Scenarios: simulate one, or test every scenario's expectations."""

from __future__ import annotations

import click

from kamrules import scenarios as sc
from kamrules.cli.options import (
    as_of_option,
    format_option,
    write,
)
from kamrules.errors import EXIT_FAILED, EXIT_OK, CheckFailed
from kamrules.lang.model import ALL_STAGES
from kamrules.render.scenarios import failure_message
from kamrules.scenarios import DEFAULT_TARGET
from kamrules.scenarios.montecarlo import MAX_EVALUATIONS


@click.command()
@click.argument("scenario_file", type=click.Path(dir_okay=False))
@click.option(
    "--runs",
    type=click.IntRange(min=1, max=MAX_EVALUATIONS),
    default=None,
    help=f"Monte Carlo: run the scenario N times with random changes drawn (default: one expected path); "
    f"N x periods at most {MAX_EVALUATIONS:,}.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the Monte Carlo draws.")
@click.option(
    "--target",
    type=click.Choice(ALL_STAGES),
    default=DEFAULT_TARGET,
    show_default=True,
    help="Monte Carlo: stage whose time to reach is reported.",
)
@format_option
@as_of_option
def simulate(scenario_file: str, runs: int | None, seed: int, target: str, fmt: str) -> None:
    """Simulate a scenario period by period (timeline), or --runs N times (stage probabilities)."""
    scenario = sc.load_scenario(scenario_file)
    if runs is not None and runs * len(scenario.steps) > MAX_EVALUATIONS:
        # The time budget (docs/scenarios.md); memory stays flat, so time is what bounds the runs.
        raise click.BadParameter(
            f"{runs:,} runs x {len(scenario.steps)} periods = {runs * len(scenario.steps):,} evaluations; "
            f"at most {MAX_EVALUATIONS:,} (about 15 minutes on one core): at most "
            f"{MAX_EVALUATIONS // len(scenario.steps):,} runs for this scenario",
            param_hint="'--runs'",
        )
    write(sc.simulate(scenario) if runs is None else sc.monte_carlo(scenario, runs, seed, target), fmt)


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@format_option
@as_of_option
def test_scenarios(paths: tuple[str, ...], fmt: str) -> int:
    """Run every scenario's expectations (default folder: scenarios/); exit 1 if any fails."""
    result = sc.run_tests(paths or ("scenarios",))
    write(result, fmt)
    if result.failed and fmt != "json":  # in JSON the failures are in the document, only the exit code says more
        raise CheckFailed(failure_message(result))
    return EXIT_FAILED if result.failed else EXIT_OK
