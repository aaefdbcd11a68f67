"""The periodic review of a whole portfolio, and the ABC analysis of one metric."""

from __future__ import annotations

import contextlib
import sys

import click

from kamrules.audit import log as audit
from kamrules.cli.options import (
    all_formats_option,
    as_of_option,
    audit_db_option,
    format_option,
    no_audit_option,
    rules_option,
    write,
)
from kamrules.engine.compute import review_date
from kamrules.inputs import read_review_input
from kamrules.kam import abc_rows, load_settings, load_structure_rules
from kamrules.kam import review as pf
from kamrules.lang import load_ruleset
from kamrules.render import review as pr


@click.command("portfolio")
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
        write(pr.ReviewReport(rv, meta), fmt)


@click.command("abc")
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
    write(pr.AbcReport(tuple(rows), computed, metric, method, settings, plot), fmt)
