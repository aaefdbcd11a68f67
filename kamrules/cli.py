"""The command line: parse, call the library, render, exit. No logic of its own."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from kamrules import __version__
from kamrules.audit import log as audit
from kamrules.engine import explain
from kamrules.engine.evaluate import Evaluator
from kamrules.errors import EXIT_OK, CheckFailed, EngineError, InvalidInput, KamrulesError, Problem, Span
from kamrules.inputs.tables import read_account_table
from kamrules.kam import context as kam_context
from kamrules.kam import review as pf
from kamrules.lang.loader import load_account, load_ruleset
from kamrules.lang.model import ALL_STAGES
from kamrules.render import decision as report
from kamrules.render import review as pr
from kamrules.render import selection as selection_words
from kamrules.scenarios import spec as sc

DEFAULT_RULES = "rules"
FORMATS = click.Choice(["table", "json"])


def _fail(err: KamrulesError, fmt: str) -> None:
    if fmt == "json":
        click.echo(report.to_json(err.to_dict()))
    else:
        click.echo(err.render(), err=True)
    sys.exit(err.exit_code)


def run_guarded(fmt: str, body: Callable[[], int | None]) -> None:
    """Run a command body; any KamrulesError becomes its message and its exit code."""
    try:
        code = body()
    except KamrulesError as err:
        _fail(err, fmt)
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except Exception as err:  # a bug: say so, keep exit 1 for failed checks, and keep the trace for the report
        if os.environ.get("KAMRULES_DEBUG"):
            raise
        _fail(EngineError(f"{type(err).__name__}: {err} (set KAMRULES_DEBUG=1 to see the traceback)"), fmt)
    else:
        sys.exit(code or EXIT_OK)


rules_option = click.option(
    "--rules",
    "rules_dir",
    default=DEFAULT_RULES,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Rules folder (facts.yaml and rule files).",
)
format_option = click.option("--format", "fmt", type=FORMATS, default="table", show_default=True, help="Output format.")
no_audit_option = click.option("--no-audit", is_flag=True, help="Do not record the decisions in the decision log.")
as_of_option = click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Review date (YYYY-MM-DD) that last_review is compared with. Default: today.",
)
audit_db_option = click.option(
    "--audit-db",
    "audit_db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Decision log (SQLite). Default: $KAMRULES_AUDIT_DB, else ./.kamrules/audit.sqlite in the current directory.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    as_of,
    portfolio_file: str | None,
) -> None:
    """Evaluate account files: key account?, stage move, actions, and why (recorded in the decision log)."""

    def body() -> None:
        ruleset = load_ruleset(rules_dir)
        problems = []
        accounts = []
        for f in account_files:
            try:
                accounts.append(load_account(f, ruleset))
            except InvalidInput as e:
                problems.extend(e.problems)
        if problems:
            raise InvalidInput(problems)
        settings = pf.load_settings(rules_dir)
        context = read_account_table(portfolio_file) if portfolio_file else None
        with Evaluator(ruleset) as ev:
            prepared = kam_context.prepare(ev, accounts, settings, as_of.date() if as_of else None, context)
            decisions = ev.evaluate_many([a for a, _ in prepared])
        notes = [n for _, n in prepared]
        ids = [] if no_audit else audit.record(audit.db_path(audit_db), decisions, ruleset, "evaluate")
        if fmt == "json":
            data = [
                d.to_dict() | {"notes": [selection_words.note_text(c) for c in n]} | ({"decision_id": i} if ids else {})
                for d, n, i in zip(decisions, notes, ids or decisions, strict=True)
            ]
            click.echo(report.to_json(data[0] if len(data) == 1 else data))
        else:
            texts = [
                report.decision_text(d, ruleset) + ("\n\n" + selection_words.notes_text(n) if n else "")
                for d, n in zip(decisions, notes, strict=True)
            ]
            if ids:
                texts = [f"{t}\n\nrecorded as decision {i} (kamrules audit show {i})" for t, i in zip(texts, ids)]
            click.echo("\n\n".join(texts))

    run_guarded(fmt, body)


@main.group()
def rules() -> None:
    """Check and list rule files."""


@rules.command("check")
@click.argument("rules_dir", default=DEFAULT_RULES, type=click.Path())
@format_option
def rules_check(rules_dir: str, fmt: str) -> None:
    """Validate a rules folder and report every problem (exit 3 if any)."""

    def body() -> None:
        rs = load_ruleset(rules_dir)
        pf.load_settings(rules_dir)  # settings.yaml belongs to the folder: check it too
        if fmt == "json":
            click.echo(
                report.to_json(
                    {
                        "ok": True,
                        "rules": len(rs.rules),
                        "facts": len(rs.facts),
                        "strata": rs.strata,
                        "rules_version": rs.version,
                    }
                )
            )
        else:
            click.echo(
                f"{rules_dir}: ok: {len(rs.rules)} rules, {len(rs.facts)} facts, {rs.strata} strata, "
                f"version {rs.version[:12]}"
            )

    run_guarded(fmt, body)


@rules.command("list")
@click.argument("rules_dir", default=DEFAULT_RULES, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "markdown"]),
    default="table",
    show_default=True,
    help="Output format.",
)
def rules_list(rules_dir: str, fmt: str) -> None:
    """The rules as a table: id, source, priority, when, then (CSV and JSON add stratum and description)."""

    def body() -> None:
        rs = load_ruleset(rules_dir)
        rows = report.rules_rows(rs)
        cols = ["id", "source", "priority", "when", "then"]
        if fmt == "json":
            click.echo(report.to_json({"rules_version": rs.version, "rules": rows}))
        elif fmt == "csv":
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else cols)
            w.writeheader()
            w.writerows(rows)
            click.echo(buf.getvalue(), nl=False)
        else:
            click.echo(
                report.table(rows, cols, "github" if fmt == "markdown" else "simple", None if fmt == "markdown" else 50)
            )

    run_guarded("json" if fmt == "json" else "table", body)


@main.command("explain")
@click.argument("account_file", type=click.Path(dir_okay=False))
@rules_option
@format_option
@as_of_option
def explain_cmd(account_file: str, rules_dir: str, fmt: str, as_of) -> None:
    """Why this decision, why not the next move, and what changes of given facts would reach it."""

    def body() -> None:
        ruleset = load_ruleset(rules_dir)
        account = load_account(account_file, ruleset)
        settings = pf.load_settings(rules_dir)
        with Evaluator(ruleset) as ev:
            # the same computed facts as evaluate (potential, score, capacity, review dates)
            account = kam_context.prepare(ev, [account], settings, as_of.date() if as_of else None)[0][0]
            e = explain.explain(ev, account)
        click.echo(report.to_json(e.to_dict()) if fmt == "json" else explain.explanation_text(e))

    run_guarded(fmt, body)


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
)


def _since(value) -> str | None:
    return value.isoformat() if value else None


@audit_group.command("list")
@click.option("--account", default=None, help="Only this account id.")
@since_option
@click.option("--rule", default=None, help="Only decisions where this rule fired.")
@audit_db_option
@format_option
def audit_list(account: str | None, since, rule: str | None, audit_db: str | None, fmt: str) -> None:
    """Recorded decisions, oldest first."""

    def body() -> None:
        entries = audit.list_decisions(audit.db_path(audit_db), account, _since(since), rule)
        if fmt == "json":
            click.echo(report.to_json([e.summary() | {"seq": e.seq} for e in entries]))
        else:
            click.echo(audit.entries_text(entries))

    run_guarded(fmt, body)


@audit_group.command("show")
@click.argument("decision_id")
@audit_db_option
@format_option
def audit_show(decision_id: str, audit_db: str | None, fmt: str) -> None:
    """One recorded decision in full: inputs, every firing, the recommendation."""

    def body() -> None:
        entry = audit.show(audit.db_path(audit_db), decision_id)
        click.echo(report.to_json(entry.record) if fmt == "json" else audit.record_text(entry))

    run_guarded(fmt, body)


@audit_group.command("verify")
@audit_db_option
@format_option
def audit_verify(audit_db: str | None, fmt: str) -> None:
    """Check the hash chain: exit 0 if intact, 1 naming the first broken record."""

    def body() -> None:
        path = audit.db_path(audit_db)
        if fmt == "json":
            v = audit.verify(path)
            click.echo(report.to_json(v.to_dict()))
            return 0 if v.ok else 1
        v = audit.check(path)
        click.echo(f"{path}: intact: {v.records} decision(s), {v.rulesets} rule set(s)")

    run_guarded(fmt, body)


@audit_group.command("replay")
@click.argument("decision_id")
@click.option(
    "--rules",
    "rules_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Replay with this rules folder instead of the recorded rule text.",
)
@audit_db_option
@format_option
def audit_replay(decision_id: str, rules_dir: str | None, audit_db: str | None, fmt: str) -> None:
    """Re-evaluate a recorded decision's inputs with the recorded rules (or --rules) and compare."""

    def body() -> int:
        r = audit.replay(audit.db_path(audit_db), decision_id, rules_dir)
        click.echo(report.to_json(r.to_dict()) if fmt == "json" else audit.replay_text(r))
        # With the recorded rules a difference means the log or kamrules changed: a failed check.
        return 1 if rules_dir is None and not r.identical else 0

    run_guarded(fmt, body)


@audit_group.command("backtest")
@click.option(
    "--rules",
    "rules_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="The new rules folder to run the recorded decisions through.",
)
@since_option
@audit_db_option
@format_option
def audit_backtest(rules_dir: str, since, audit_db: str | None, fmt: str) -> None:
    """Which recorded decisions a rule change would alter, counted by type of change."""

    def body() -> None:
        b = audit.backtest(audit.db_path(audit_db), rules_dir, _since(since))
        click.echo(report.to_json(b.to_dict()) if fmt == "json" else audit.backtest_text(b))

    run_guarded(fmt, body)


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
    default="partnership-KAM",
    show_default=True,
    help="Monte Carlo: stage whose time to reach is reported.",
)
@format_option
def simulate(scenario_file: str, runs: int | None, seed: int, target: str, fmt: str) -> None:
    """Simulate a scenario period by period (timeline), or --runs N times (stage probabilities)."""

    def body() -> None:
        scenario = sc.load_scenario(scenario_file)
        if runs is None:
            timeline = sc.simulate(scenario)
            if fmt == "json":
                click.echo(report.to_json(timeline.to_dict()))
                return
            click.echo(sc.timeline_header(scenario))
            rows = sc.timeline_rows(timeline)
            click.echo(report.table(rows, list(rows[0]), "simple", 40))
            return
        mc = sc.monte_carlo(scenario, runs, seed, target)
        if fmt == "json":
            click.echo(report.to_json(mc.to_dict()))
            return
        rows = sc.monte_carlo_rows(mc)
        click.echo(
            f"Scenario {scenario.name}: {runs} runs, seed {seed}; probability of each stage at the end of each period"
        )
        click.echo(report.table(rows, list(rows[0]), "simple", None))
        t = mc.to_dict()["time_to_target"]
        if mc.times:
            click.echo(
                f"time to reach {target}: mean {mc.mean_time:.2f} periods, p10 {t['p10']}, p50 {t['p50']}, "
                f"p90 {t['p90']} (among the {len(mc.times)} runs that reach it); never reached in "
                f"{mc.never_share:.1%} of runs"
            )
        else:
            click.echo(f"time to reach {target}: never reached in any of the {runs} runs")

    run_guarded(fmt, body)


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@format_option
def test_scenarios(paths: tuple[str, ...], fmt: str) -> None:
    """Run every scenario's expectations (default folder: scenarios/); exit 1 if any fails."""

    def body() -> int:
        result = sc.run_tests(paths or ("scenarios",))
        if fmt == "json":
            # One JSON document on stdout: the failures are in it, so only the exit code says more.
            click.echo(
                report.to_json(
                    {
                        "passed": result.passed,
                        "failed": result.failed,
                        "outcomes": [o.to_dict() for o in result.outcomes],
                    }
                )
            )
            return CheckFailed.exit_code if result.failed else 0
        for o in result.outcomes:
            click.echo(o.line())
        click.echo(result.summary())
        if result.failed:
            raise CheckFailed(f"{result.failed} of {len(result.outcomes)} expectations failed")
        return 0

    run_guarded(fmt, body)


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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "markdown"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--quiet", is_flag=True, help="No progress bar on stderr.")
@audit_db_option
@no_audit_option
@as_of_option
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
    as_of,
) -> None:
    """Portfolio review: ABC classes, potential, key accounts new/kept/lost with reasons, stages, structure."""

    if transactions and not period:
        raise click.UsageError("--transactions needs --period")
    if not transactions and (period or previous):
        raise click.UsageError("--period and --previous apply to --transactions only")

    def body() -> None:
        ruleset = load_ruleset(rules_dir)
        settings = pf.load_settings(rules_dir)
        rows, before, meta = pr.read_rows(file, transactions, period, previous, columns)
        day = as_of.date() if as_of else None
        stream = None
        if fmt == "json":
            head = {"input": meta, "rules_version": ruleset.version, "settings": settings.to_dict()}
            stream = pr.JsonStream(lambda text: click.echo(text, nl=False), head)
        with contextlib.ExitStack() as stack:
            recorder = (
                None if no_audit else stack.enter_context(audit.Recorder(audit.db_path(audit_db), ruleset, "portfolio"))
            )

            def on_batch(results: list) -> None:
                if recorder:
                    recorder.add([r.decision for r in results])
                if stream:
                    for r in results:
                        stream.account(r.to_dict())

            if sys.stderr.isatty() and not quiet:
                bar = stack.enter_context(
                    click.progressbar(length=len(rows), label="Evaluating accounts", file=sys.stderr)
                )
                rv = pf.review(rows, ruleset, settings, before, bar.update, on_batch, day)
            else:
                rv = pf.review(rows, ruleset, settings, before, on_batch=on_batch, as_of=day)
            if recorder:
                recorder.add([rv.structure])
        if stream:
            stream.finish(rv)
        else:
            click.echo(pr.render_portfolio(rv, fmt, meta))

    run_guarded("json" if fmt == "json" else "table", body)


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

    def body() -> None:
        if not Path(rules_dir).is_dir():
            raise InvalidInput(
                [
                    Problem(
                        Span(rules_dir),
                        "rules folder not found",
                        expected="a folder with settings.yaml (the ABC cut-offs)",
                        help="pass --rules DIR",
                    )
                ]
            )
        settings = pf.load_settings(rules_dir)
        rows, computed = pr.abc_rows(file, metric, method, settings, columns)
        if plot:
            from kamrules.render.plot import pareto_plot

            pareto_plot(rows, metric, plot)
        click.echo(pr.render_abc(rows, computed, metric, method, settings, fmt, plot))

    run_guarded(fmt, body)


if __name__ == "__main__":  # pragma: no cover
    main()
