"""The command line: parse, call the library, render, exit. No logic of its own."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from click.decorators import FC

from kamrules import __version__
from kamrules import scenarios as sc
from kamrules.audit import log as audit
from kamrules.audit import replay as replays
from kamrules.engine import explain
from kamrules.engine.compute import review_date, reviewing_on
from kamrules.engine.evaluate import Evaluator
from kamrules.errors import EXIT_FAILED, EXIT_OK, CheckFailed, EngineError, KamrulesError
from kamrules.inputs import read_account_table, read_review_input
from kamrules.kam import abc_rows, load_settings, load_structure_rules
from kamrules.kam import context as kam_context
from kamrules.kam import review as pf
from kamrules.lang import load_account, load_accounts, load_ruleset
from kamrules.lang.model import ALL_STAGES
from kamrules.render import review as pr
from kamrules.render.decision import Evaluated, RulesChecked, RulesListing
from kamrules.render.registry import AuditEntries, Verified, render
from kamrules.render.scenarios import failure_message
from kamrules.scenarios import DEFAULT_RULES, DEFAULT_TARGET

# The error handler shows an error in the format the command was asked for; the option leaves it here.
FORMAT_KEY = "kamrules.format"


class KamrulesGroup(click.Group):
    """The root group: every error is shown here, once, with its exit code (as click's main does for its own)."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; its return value is the exit code, a KamrulesError its message and exit code."""
        try:
            code = super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KamrulesError as err:
            code = _show(err, ctx)
        except Exception as err:  # a bug: say so with exit 4, not 1, and keep the traceback for the report
            if os.environ.get("KAMRULES_DEBUG"):
                raise
            code = _show(EngineError(f"{type(err).__name__}: {err} (set KAMRULES_DEBUG=1 to see the traceback)"), ctx)
        ctx.exit(code or EXIT_OK)


def _show(err: KamrulesError, ctx: click.Context) -> int:
    fmt = ctx.meta.get(FORMAT_KEY, "table")
    # A JSON error is the command's one document on stdout; text goes to stderr.
    click.echo(render(err, fmt), nl=False, err=fmt != "json")
    return err.exit_code


def _write(obj: Any, fmt: str) -> None:
    click.echo(render(obj, fmt), nl=False)


def _remember_format(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    ctx.meta[FORMAT_KEY] = value
    return value


def _format_option(*choices: str) -> Callable[[FC], FC]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default="table",
        show_default=True,
        help="Output format.",
        callback=_remember_format,
    )


def _rules_dir_option(help: str, **kwargs: Any) -> Callable[[FC], FC]:
    return click.option("--rules", "rules_dir", type=click.Path(file_okay=False), help=help, **kwargs)


rules_option = _rules_dir_option("Rules folder (facts.yaml and rule files).", default=DEFAULT_RULES, show_default=True)
format_option = _format_option("table", "json")
all_formats_option = _format_option("table", "json", "csv", "markdown")
# The review date: computed facts read it as `as_of`, the review's dates (review due) are counted to it.
# It is set for the command's whole run and undone when it ends.
as_of_option = click.option(
    "--as-of", type=click.DateTime(["%Y-%m-%d"]), expose_value=False,
    callback=lambda ctx, _p, v: ctx.with_resource(reviewing_on(v.date() if v is not None else None)),
    help="Review date (YYYY-MM-DD; default today): computed facts read it as `as_of`; last_review is compared with it.",
)  # fmt: skip
no_audit_option = click.option("--no-audit", is_flag=True, help="Do not record the decisions in the decision log.")
audit_db_option = click.option(
    "--audit-db",
    "audit_db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Decision log (SQLite). Default: $KAMRULES_AUDIT_DB, else ./.kamrules/audit.sqlite in the current directory.",
)


@click.group(cls=KamrulesGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kamrules")
def main() -> None:
    """Rule-based decision support for Key Account Management.

    \b
    Exit codes: 0 ok; 1 a check failed (expectations, audit verify);
    2 bad command line; 3 invalid input (rules, accounts, tables); 4 internal error.
    """


@main.command()
@click.argument("account_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@rules_option
@format_option
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
    audit_db: str | None,
    no_audit: bool,
    portfolio_file: str | None,
) -> None:
    """Evaluate account files: key account?, stage move, actions, and why (recorded in the decision log)."""
    ruleset = load_ruleset(rules_dir)
    accounts = load_accounts(account_files, ruleset)
    settings = load_settings(rules_dir)
    context = read_account_table(portfolio_file) if portfolio_file else None
    with Evaluator(ruleset) as ev:
        prepared = kam_context.prepare(ev, accounts, settings, review_date(), context)
        decisions = ev.evaluate_many([a for a, _ in prepared])
    ids = [] if no_audit else audit.record(audit.db_path(audit_db), decisions, ruleset, "evaluate")
    _write(Evaluated(tuple(decisions), ruleset, tuple(ids), tuple(n for _, n in prepared)), fmt)


@main.group()
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
    _write(RulesChecked(rules_dir, ruleset), fmt)


@rules.command("list")
@click.argument("rules_dir", default=DEFAULT_RULES, type=click.Path())
@all_formats_option
def rules_list(rules_dir: str, fmt: str) -> None:
    """The rules as a table: id, source, priority, when, then (CSV and JSON add stratum and description)."""
    _write(RulesListing(load_ruleset(rules_dir)), fmt)


@main.command("explain")
@click.argument("account_file", type=click.Path(dir_okay=False))
@rules_option
@format_option
@as_of_option
def explain_cmd(account_file: str, rules_dir: str, fmt: str) -> None:
    """Why this decision, why not the next move, and what changes of given facts would reach it."""
    ruleset = load_ruleset(rules_dir)
    account = load_account(account_file, ruleset)
    settings = load_settings(rules_dir)
    with Evaluator(ruleset) as ev:
        # the same computed facts as evaluate (potential, score, capacity, review dates)
        account = kam_context.prepare(ev, [account], settings, review_date())[0][0]
        explanation = explain.explain(ev, account)
    _write(explanation, fmt)


@main.group("audit")
def audit_group() -> None:
    """The decision log: list, show, verify, replay, backtest.

    \b
    The log is an SQLite file: --audit-db, else $KAMRULES_AUDIT_DB,
    else ./.kamrules/audit.sqlite in the current directory.
    """


since_option = click.option(
    "--since",
    default=None,
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Only decisions recorded on or after this UTC date (YYYY-MM-DD).",
    callback=lambda _ctx, _param, value: value.isoformat() if value else None,  # the log stores ISO text
)


@audit_group.command("list")
@click.option("--account", default=None, help="Only this account id.")
@since_option
@click.option("--rule", default=None, help="Only decisions where this rule fired.")
@audit_db_option
@format_option
def audit_list(account: str | None, since: str | None, rule: str | None, audit_db: str | None, fmt: str) -> None:
    """Recorded decisions, oldest first."""
    entries = audit.list_decisions(audit.db_path(audit_db), account, since, rule)
    _write(AuditEntries(tuple(entries)), fmt)


@audit_group.command("show")
@click.argument("decision_id")
@audit_db_option
@format_option
def audit_show(decision_id: str, audit_db: str | None, fmt: str) -> None:
    """One recorded decision in full: inputs, every firing, the recommendation."""
    _write(audit.show(audit.db_path(audit_db), decision_id), fmt)


@audit_group.command("verify")
@audit_db_option
@format_option
def audit_verify(audit_db: str | None, fmt: str) -> int:
    """Check the hash chain: exit 0 if intact, 1 naming the first broken record."""
    path = audit.db_path(audit_db)
    # In JSON the broken record is part of the one document; as text it is an error (CheckFailed) on stderr.
    v = audit.verify(path) if fmt == "json" else audit.check(path)
    _write(Verified(path, v), fmt)
    return EXIT_OK if v.ok else EXIT_FAILED


@audit_group.command("replay")
@click.argument("decision_id")
@_rules_dir_option("Replay with this rules folder instead of the recorded rule text.", default=None)
@audit_db_option
@format_option
def audit_replay(decision_id: str, rules_dir: str | None, audit_db: str | None, fmt: str) -> int:
    """Re-evaluate a recorded decision's inputs with the recorded rules (or --rules) and compare."""
    r = replays.replay(audit.db_path(audit_db), decision_id, rules_dir)
    _write(r, fmt)
    # With the recorded rules a difference means the log or kamrules changed: a failed check.
    return EXIT_FAILED if rules_dir is None and not r.identical else EXIT_OK


@audit_group.command("backtest")
@_rules_dir_option("The new rules folder to run the recorded decisions through.", required=True)
@since_option
@audit_db_option
@format_option
def audit_backtest(rules_dir: str, since: str | None, audit_db: str | None, fmt: str) -> None:
    """Which recorded decisions a rule change would alter, counted by type of change."""
    _write(replays.backtest(audit.db_path(audit_db), rules_dir, since), fmt)


@main.command()
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
    _write(sc.simulate(scenario) if runs is None else sc.monte_carlo(scenario, runs, seed, target), fmt)


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@format_option
@as_of_option
def test_scenarios(paths: tuple[str, ...], fmt: str) -> int:
    """Run every scenario's expectations (default folder: scenarios/); exit 1 if any fails."""
    result = sc.run_tests(paths or ("scenarios",))
    _write(result, fmt)
    if result.failed and fmt != "json":  # in JSON the failures are in the document, only the exit code says more
        raise CheckFailed(failure_message(result))
    return EXIT_FAILED if result.failed else EXIT_OK


@main.command("portfolio")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--transactions", is_flag=True, help="FILE holds invoice/transaction lines, not one row per account.")
@click.option("--period", default=None, help="With --transactions: 2026-07, 2026Q3, 2026 or 2026-01-01..2026-03-31.")
@click.option(
    "--previous",
    default=None,
    help="With --transactions: the previous period to review against (default: the one just before --period).",
)
@click.option("--columns", default=None, help="Column mapping, e.g. account=Cliente,date=Data,amount=Importo.")
@rules_option
@all_formats_option
@click.option("--quiet", is_flag=True, help="No progress bar on stderr.")
@audit_db_option
@as_of_option
@no_audit_option
def portfolio_cmd(
    file: str,
    transactions: bool,
    period: str | None,
    previous: str | None,
    columns: str | None,
    rules_dir: str,
    fmt: str,
    quiet: bool,
    audit_db: str | None,
    no_audit: bool,
) -> None:
    """Portfolio review: ABC classes, potential, key accounts new/kept/lost with reasons, stages, structure."""
    if transactions and not period:
        raise click.UsageError("--transactions needs --period")
    if not transactions and (period or previous):
        raise click.UsageError("--period and --previous apply to --transactions only")

    ruleset = load_ruleset(rules_dir)
    settings = load_settings(rules_dir)
    structure_rules = load_structure_rules(rules_dir)
    rows, before, meta = read_review_input(file, transactions, period, previous, columns)
    stream = None
    if fmt == "json":  # written while accounts are evaluated, so no run holds the whole document in memory
        head = {"input": meta, "rules_version": ruleset.version, "settings": settings.to_dict()}
        stream = pr.JsonStream(lambda text: click.echo(text, nl=False), head)
    with contextlib.ExitStack() as stack:
        log = None if no_audit else stack.enter_context(audit.Recorder(audit.db_path(audit_db), ruleset, "portfolio"))

        def on_batch(results: list[pf.AccountResult]) -> None:
            if log:
                log.add([r.decision for r in results])
            if stream:
                for r in results:
                    stream.account(r.to_dict())

        show_bar = sys.stderr.isatty() and not quiet
        bar = click.progressbar(length=len(rows), label="Evaluating accounts", file=sys.stderr) if show_bar else None
        progress = stack.enter_context(bar).update if bar else None
        rv = pf.review(rows, ruleset, settings, before, progress, on_batch, structure_rules, review_date())
        if log and rv.structure.decision:
            log.add([rv.structure.decision], structure_rules, kind="portfolio")
    if stream:
        stream.finish(rv)
    else:
        _write(pr.ReviewReport(rv, meta), fmt)


@main.command("abc")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--metric", default="revenue", show_default=True, help="The numeric column to analyse.")
@click.option(
    "--method",
    type=click.Choice(["fixed", "computed"]),
    default="fixed",
    show_default=True,
    help="fixed: cut-offs from rules/settings.yaml (default 80%/95%); computed: Ultsch & Lötsch limits.",
)
@click.option("--plot", default=None, type=click.Path(dir_okay=False), help="Draw the Pareto curve to a .png or .svg.")
@click.option("--columns", default=None, help="Column mapping, e.g. account=Cliente,revenue=Fatturato.")
@rules_option
@format_option
def abc_cmd(
    file: str, metric: str, method: str, plot: str | None, columns: str | None, rules_dir: str, fmt: str
) -> None:
    """ABC analysis of one metric of an account table (JSON: Decimals as exact strings)."""
    settings = load_settings(rules_dir)
    rows, computed = abc_rows(file, metric, method, settings, columns)
    if plot:
        from kamrules.render.plot import pareto_plot  # matplotlib only when a chart is asked for

        pareto_plot(rows, metric, plot)
    _write(pr.AbcReport(tuple(rows), computed, metric, method, settings, plot), fmt)


if __name__ == "__main__":  # pragma: no cover
    main()
