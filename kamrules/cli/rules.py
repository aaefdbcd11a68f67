"""The rules folder: check and list."""

from __future__ import annotations

import click

from kamrules.cli.options import (
    all_formats_option,
    format_option,
    write,
)
from kamrules.engine.compiler import check_compilable
from kamrules.kam import load_settings, load_structure_rules
from kamrules.lang import load_ruleset
from kamrules.render.decision import RulesChecked, RulesListing
from kamrules.scenarios import DEFAULT_RULES


@click.group()
def rules() -> None:
    """Check and list rule files."""


@rules.command("check")
@click.argument("rules_dir", default=DEFAULT_RULES, type=click.Path())
@format_option
def rules_check(rules_dir: str, fmt: str) -> None:
    """Validate a rules folder and report every problem (exit 3 if any)."""
    ruleset = load_ruleset(rules_dir)
    load_settings(rules_dir)  # settings.yaml belongs to the folder: check it too
    load_structure_rules(rules_dir)  # and so do the portfolio rules
    check_compilable(ruleset)  # what the engine could not run is refused now, not at evaluation
    write(RulesChecked(rules_dir, ruleset), fmt)


@rules.command("list")
@click.argument("rules_dir", default=DEFAULT_RULES, type=click.Path())
@all_formats_option
def rules_list(rules_dir: str, fmt: str) -> None:
    """The rules as a table: id, source, priority, when, then (CSV and JSON add stratum and description)."""
    write(RulesListing(load_ruleset(rules_dir)), fmt)
