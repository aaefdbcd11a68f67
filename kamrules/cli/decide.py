"""Deciding on accounts: evaluate and explain."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from kamrules.cli.options import (
    RULES_KEY,
    as_of_option,
    audit_db_option,
    no_audit_option,
    output_format,
    output_option,
    report_formats_option,
    rules_option,
    write,
)
from kamrules.engine.evaluate import Evaluator
from kamrules.kam import context as kam_context
from kamrules.kam.settings import load_settings
from kamrules.lang.accounts import load_account, load_accounts
from kamrules.lang.loader import load_ruleset
from kamrules.render.decision import Evaluated

if TYPE_CHECKING:
    from kamrules.engine.evaluate import Decision
    from kamrules.lang.model import RuleSet

# What only some runs need is imported when they need it (the decision log, not with --no-audit; a
# portfolio to rank against; explain's solver, z3; the words for a damaged log), so that evaluating
# one account starts quickly.


@click.command()
@click.argument("account_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@rules_option
@report_formats_option
@output_option("table", "json", "html")
@audit_db_option
@no_audit_option
@as_of_option
@click.option(
    "--portfolio",
    "portfolio_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Account table to rank the account against (its selection_rank), when the account file gives none.",
)
def evaluate(
    account_files: tuple[str, ...],
    rules_dir: str,
    fmt: str,
    output: str | None,
    audit_db: str | None,
    no_audit: bool,
    portfolio_file: str | None,
) -> None:
    """Evaluate account files: key account?, stage move, actions, and why (recorded in the decision log)."""
    ruleset = load_ruleset(rules_dir)
    accounts = load_accounts(account_files, ruleset)
    settings = load_settings(rules_dir)
    context = None
    if portfolio_file:
        from kamrules.inputs.tables import read_account_table

        context = read_account_table(portfolio_file)
    with Evaluator(ruleset) as ev:
        prepared = kam_context.prepare(ev, accounts, settings, context)
        decisions = ev.evaluate_many([a for a, _ in prepared])
    ids = [] if no_audit else _record(audit_db, decisions, ruleset)
    source = click.get_current_context().meta[RULES_KEY]
    rules = {"path": source.path, "origin": source.origin}
    evaluated = Evaluated(tuple(decisions), ruleset, tuple(ids), tuple(n for _, n in prepared), rules)
    write(evaluated, output_format(output, fmt), output)


def _record(audit_db: str | None, decisions: list[Decision], ruleset: RuleSet) -> list[str]:
    """Record before anything is shown (a decision shown is a decision recorded), warning of a broken log end."""
    from kamrules.audit import recorder, store

    path = store.db_path(audit_db)

    def warn(problem: str) -> None:
        from kamrules.render.audit import tail_warning

        click.echo(tail_warning(path, problem), err=True)

    return recorder.record(path, decisions, ruleset, "evaluate", warn=warn)


@click.command("explain")
@click.argument("account_file", type=click.Path(dir_okay=False))
@rules_option
@report_formats_option
@output_option("table", "json", "html")
@as_of_option
def explain_cmd(account_file: str, rules_dir: str, fmt: str, output: str | None) -> None:
    """Why this decision, why not the next move, and what changes of given facts would reach it."""
    from kamrules.engine import explain

    ruleset = load_ruleset(rules_dir)
    account = load_account(account_file, ruleset)
    settings = load_settings(rules_dir)
    with Evaluator(ruleset) as ev:
        # the same computed facts as evaluate (potential, score, capacity, review dates)
        account = kam_context.prepare(ev, [account], settings)[0][0]
        explanation = explain.explain(ev, account)
    write(explanation, output_format(output, fmt), output)
