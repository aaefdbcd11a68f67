"""Scenarios: simulate one, or test every scenario's expectations."""

from __future__ import annotations

from pathlib import Path

import click

from kamrules import scenarios as sc
from kamrules.cli.options import (
    as_of_option,
    format_option,
    write,
)
from kamrules.errors import EXIT_FAILED, EXIT_OK, CheckFailed
from kamrules.lang.defaults import shipped
from kamrules.lang.model import ALL_STAGES
from kamrules.render.scenarios import failure_message
from kamrules.scenarios import DEFAULT_TARGET


@click.command()
@click.argument("scenario_file", type=click.Path(dir_okay=False))
@click.option(
    "--runs",
    type=click.IntRange(min=1, max=10_000_000),
    default=None,
    help="Monte Carlo: run the scenario N times with random changes drawn (default: one expected path).",
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
    write(sc.simulate(scenario) if runs is None else sc.monte_carlo(scenario, runs, seed, target), fmt)


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@format_option
@as_of_option
def test_scenarios(paths: tuple[str, ...], fmt: str) -> int:
    """Run every scenario's expectations (default: ./scenarios, else the examples shipped with kamrules)."""
    result = sc.run_tests(paths or (("scenarios",) if Path("scenarios").is_dir() else (str(shipped("scenarios")),)))
    write(result, fmt)
    if result.failed and fmt != "json":  # in JSON the failures are in the document, only the exit code says more
        raise CheckFailed(failure_message(result))
    return EXIT_FAILED if result.failed else EXIT_OK
