"""Scenarios: simulate one, or test every scenario's expectations."""

from __future__ import annotations

from pathlib import Path

import click

from kamrules import scenarios as sc
from kamrules.cli.options import (
    as_of_option,
    format_option,
    rules_option,
    write,
)
from kamrules.errors import EXIT_FAILED, EXIT_OK, CheckFailed
from kamrules.kam import load_structure_rules
from kamrules.lang import load_ruleset
from kamrules.lang.defaults import shipped
from kamrules.lang.model import ALL_STAGES
from kamrules.render.coverage import CoveredTests, coverage_failure
from kamrules.render.scenarios import failure_message
from kamrules.scenarios import DEFAULT_TARGET
from kamrules.scenarios.coverage import CoverageCounter
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
@click.option(
    "--coverage",
    "with_coverage",
    is_flag=True,
    help="Report which rules fired and which comparisons were seen true and false.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 100),
    default=None,
    help="With --coverage: exit 1 when a rule set has less than P percent of its rules fired.",
)
@click.option(
    "--cases",
    multiple=True,
    type=click.Path(),
    help="With --coverage: also evaluate the account cases of these files or folders (tests/cases/ format).",
)
@rules_option
@format_option
@as_of_option
def test_scenarios(
    paths: tuple[str, ...],
    with_coverage: bool,
    threshold: float | None,
    cases: tuple[str, ...],
    rules_dir: str,
    fmt: str,
) -> int:
    """Run every scenario's expectations (default: ./scenarios, else the examples shipped with kamrules)."""
    if (threshold is not None or cases) and not with_coverage:
        raise click.UsageError("--threshold and --cases need --coverage")
    counter = CoverageCounter() if with_coverage else None
    default = ("scenarios",) if Path("scenarios").is_dir() else (str(shipped("scenarios")),)
    result = sc.run_tests(paths or default, counter.timeline if counter else None)
    if counter is not None and cases:
        rule_sets = (load_ruleset(rules_dir), load_structure_rules(rules_dir))
        counter.cases(cases, [rs for rs in rule_sets if rs is not None])
    coverage = counter.result(threshold) if counter is not None else None
    # each scenario names its own rules; --rules only serves the account cases of --coverage
    write(CoveredTests(result, coverage) if coverage is not None else result, fmt, name_rules=bool(cases))
    failures = [failure_message(result)] if result.failed else []
    if coverage is not None and coverage.below:
        failures.append(coverage_failure(coverage))
    if failures and fmt != "json":  # in JSON the failures are in the document, only the exit code says more
        raise CheckFailed("; ".join(failures))
    return EXIT_FAILED if failures else EXIT_OK
