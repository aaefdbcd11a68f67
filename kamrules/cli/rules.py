"""The rules folder: check (and check deep), list, and diff two folders."""

from __future__ import annotations

from pathlib import Path

import click

from kamrules.audit.impact import audit_impact, portfolio_impact
from kamrules.cli.options import (
    all_formats_option,
    as_of_option,
    format_option,
    given_rules,
    rules_argument,
    write,
)
from kamrules.cli.portfolio import engine_options
from kamrules.engine.compiler import check_compilable
from kamrules.engine.compute import review_date
from kamrules.engine.deep import deep_check
from kamrules.errors import EXIT_FAILED, EXIT_OK
from kamrules.kam import load_settings, load_structure_rules
from kamrules.lang import load_ruleset
from kamrules.lang.diff import diff_rulesets
from kamrules.render.checks import DeepReport
from kamrules.render.diff import DiffReport
from kamrules.render.rules import RulesChecked, RulesListing


@click.group()
def rules() -> None:
    """Check, list and compare rule files."""


@rules.command("check")
@rules_argument
@click.option(
    "--deep",
    is_flag=True,
    help="Also solve for dead, conflicting and masked rules, gaps, thresholds beyond a fact's range, "
    "derived facts no rule concludes and late conclusions, each with a verified witness account (exit 1 on errors).",
)
@format_option
@as_of_option
def rules_check(rules_dir: str, deep: bool, fmt: str) -> int:
    """Validate a rules folder and report every problem (exit 3 if any)."""
    ruleset = load_ruleset(rules_dir)
    load_settings(rules_dir)  # settings.yaml belongs to the folder: check it too
    structure = load_structure_rules(rules_dir)  # and so do the portfolio rules
    check_compilable(ruleset)  # what the engine could not run is refused now, not at evaluation
    if not deep:
        write(RulesChecked(rules_dir, ruleset), fmt, name_rules=not given_rules())
        return EXIT_OK
    report = DeepReport(tuple(deep_check(rs) for rs in (ruleset, structure) if rs is not None))
    write(report, fmt, name_rules=not given_rules())
    return EXIT_OK if report.ok else EXIT_FAILED


@rules.command("list")
@rules_argument
@all_formats_option
def rules_list(rules_dir: str, fmt: str) -> None:
    """The rules as a table: id, source, priority, when, then (CSV and JSON add stratum and description)."""
    write(RulesListing(load_ruleset(rules_dir)), fmt, name_rules=not given_rules())


@rules.command("diff")
@click.argument("old_dir", type=click.Path(file_okay=False))
@click.argument("new_dir", type=click.Path(file_okay=False))
@click.option(
    "--portfolio",
    "portfolio_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Review this account table under both rule sets: the accounts whose outcomes change.",
)
@click.option(
    "--audit-db",
    "audit_db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Re-decide the latest recorded decision of each account in this decision log under both rule sets.",
)
@format_option
@as_of_option
@engine_options
def rules_diff(
    old_dir: str,
    new_dir: str,
    portfolio_file: str | None,
    audit_db: str | None,
    fmt: str,
    engine: str,
    cross_check: int,
) -> None:
    """Rules added, removed and changed from OLD_DIR to NEW_DIR, with positions; and the accounts affected."""
    if portfolio_file and audit_db:
        raise click.UsageError("--portfolio and --audit-db are alternatives: give one")
    diff = diff_rulesets(load_ruleset(old_dir), load_ruleset(new_dir))
    impact = None
    if portfolio_file:
        impact = portfolio_impact(portfolio_file, diff, review_date(), engine, cross_check)
    elif audit_db:
        impact = audit_impact(Path(audit_db), diff)
    write(DiffReport(diff, impact), fmt)
