"""The periodic review of a whole portfolio, and the ABC analysis of one metric."""

from __future__ import annotations

import contextlib
import io
import sys
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from kamrules.audit import log as audit
from kamrules.cli.options import (
    RULES_KEY,
    as_of_option,
    audit_db_option,
    format_option,
    input_file,
    no_audit_option,
    output_format,
    output_option,
    review_formats_option,
    rules_option,
    write,
)
from kamrules.engine.compute import review_date
from kamrules.inputs import read_review_input
from kamrules.kam import Settings, abc_rows, load_settings, load_structure_rules
from kamrules.kam import review as pf
from kamrules.kam.engines import CROSS_CHECK, ENGINES
from kamrules.lang import RuleSet, load_ruleset
from kamrules.render import review as pr
from kamrules.render.rows import SORT_FIELDS, View
from kamrules.render.words import rules_source_text, written_text

XLSX_ROWS = 1_048_576
"""The most rows an Excel sheet has."""

ON_COLUMNS = ("table", "markdown", "csv", "json", "html", "xlsx", "parquet")
"""The formats a columnar review writes from its account table (--traces needs every account's decision)."""

if TYPE_CHECKING:
    from kamrules.kam.frame_review import ColumnReview


def engine_options(f: Any) -> Any:
    """`--engine` and `--cross-check`: the rules stage of a command that reviews a whole portfolio."""
    f = click.option(
        "--cross-check",
        type=click.IntRange(min=0),
        default=CROSS_CHECK,
        show_default=True,
        help="With --engine columnar: N sampled accounts also run through durable_rules; exit 4 on a difference.",
    )(f)
    return click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default="columnar",
        show_default=True,
        help="Which engine chooses the firings: the columnar rule plan or durable_rules (same decisions).",
    )(f)


@click.command("portfolio")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--transactions", is_flag=True, help="FILE holds invoice/transaction lines, not one row per account.")
@click.option(
    "--period",
    default=None,
    help="With --transactions: 2026-07, 2026Q3, 2026 or 2026-01-01..2026-03-31 (default: the latest complete quarter).",
)
@click.option(
    "--previous",
    default=None,
    help="With --transactions: the previous period to review against (default: the one just before --period).",
)
@click.option("--columns", default=None, help="Column mapping, e.g. account=Cliente,date=Data,amount=Importo.")
@rules_option
@review_formats_option
@output_option("table", "markdown", "csv", "json", "html", "xlsx", "parquet")
@click.option(
    "--top", type=click.IntRange(min=0), default=20, show_default=True, help="New, kept and lost: the first N of each."
)
@click.option("--key-only", is_flag=True, help="Only key accounts in the account lists (CSV, XLSX, HTML, --all).")
@click.option(
    "--sort",
    type=click.Choice(SORT_FIELDS),
    default=None,
    help="Order of the account lists (numbers largest first, rank smallest first); default: rank, revenue.",
)
@click.option("--all", "show_all", is_flag=True, help="Everything: every new/kept/lost account and every account.")
@click.option(
    "--traces",
    is_flag=True,
    help="JSON: every account's whole decision (facts, ABC shares, potential, each rule's conditions) "
    "instead of its row; about 6 KB an account. One account's: kamrules audit explain ACCOUNT --run RUN.",
)
@click.option("--quiet", is_flag=True, help="No progress bar on stderr.")
@engine_options
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
    output: str | None,
    top: int,
    key_only: bool,
    sort: str | None,
    show_all: bool,
    traces: bool,
    quiet: bool,
    engine: str,
    cross_check: int,
    audit_db: str | None,
    no_audit: bool,
) -> None:
    """Portfolio review: ABC classes, potential, key accounts new/kept/lost with reasons, stages, structure.

    FILE may be - to read the table from standard input.
    """
    if not transactions and (period or previous):
        raise click.UsageError("--period and --previous apply to --transactions only")
    fmt = output_format(output, fmt)
    if traces and fmt != "json":
        raise click.UsageError("--traces applies to the JSON format only")

    ruleset = load_ruleset(rules_dir)
    settings = load_settings(rules_dir)
    structure_rules = load_structure_rules(rules_dir)
    source = click.get_current_context().meta[RULES_KEY]
    with contextlib.ExitStack() as stack:
        path = stack.enter_context(input_file(file))
        stream, done, meta, read = None, None, None, None
        if engine == "columnar" and fmt in ON_COLUMNS and not traces:
            todo = _Input(path, transactions, period, previous, columns)
            done, meta, read = _on_columns(todo, ruleset, settings, structure_rules, cross_check)
        if done is None:
            rows, before, meta = read or read_review_input(path, transactions, period, previous, columns, review_date())
        log = None if no_audit else stack.enter_context(audit.Recorder(audit.db_path(audit_db), ruleset, "portfolio"))
        # The log's own run id, so that `audit explain ACCOUNT --run RUN` finds the run the report names.
        run_id = log.run[:12] if log else uuid.uuid4().hex[:12]
        rules = {"path": source.path, "origin": source.origin}
        head = pr.review_head(meta or {}, rules, settings, ruleset.version, run_id if log else None, traces)
        if done is not None:
            rv = done.review
            if log:
                log.add_frame(done.decisions)
            done = None  # the decision frame is recorded: the report needs only the review
        else:
            # With --traces, JSON is written while accounts are evaluated, so no run holds the whole document.
            stream = _json_stream(stack, output, head) if traces else None
            run = _Rows(ruleset, settings, structure_rules, engine, cross_check)
            rv = run.review(rows, before, log, stream, _progress(stack, len(rows), quiet))
        if log and rv.structure.decision:
            log.add([rv.structure.decision], structure_rules, kind="portfolio")
        if stream:
            stream.finish(rv)
    if stream:
        if output:
            click.echo(written_text(output), err=True)
        return
    view = View(top, key_only, sort, show_all)
    _show(pr.ReviewReport(rv, meta or {}, ruleset.facts, view, rules_source_text(source), run_id), fmt, output, head)


def _progress(stack: contextlib.ExitStack, length: int, quiet: bool) -> Any:
    """A progress bar's update on a terminal's stderr (None when quiet or not a terminal)."""
    if quiet or not sys.stderr.isatty():
        return None
    bar = stack.enter_context(click.progressbar(length=length, label="Evaluating accounts", file=sys.stderr))
    return bar.update


@dataclass(frozen=True)
class _Rows:
    """The review account by account (any input, any format), recorded and streamed batch by batch."""

    ruleset: RuleSet
    settings: Settings
    structure_rules: RuleSet | None
    engine: str
    cross_check: int

    def review(
        self,
        rows: Any,
        before: Any,
        log: audit.Recorder | None,
        stream: pr.JsonStream | None,
        progress: Any,
    ) -> pf.PortfolioReview:
        """The review of the rows; each batch of results goes to the log and the JSON stream as it is made."""

        def on_batch(results: list[pf.AccountResult]) -> None:
            if log:
                log.add([r.decision for r in results])
            if stream:
                for r in results:
                    stream.account(r.to_dict())

        rs, day = self.ruleset, review_date()
        return pf.review(
            rows,
            rs,
            self.settings,
            before,
            progress,
            on_batch,
            self.structure_rules,
            day,
            self.engine,
            self.cross_check,
        )


@dataclass(frozen=True)
class _Input:
    """What the review reads: the file, and with --transactions its periods."""

    path: str
    transactions: bool
    period: str | None
    previous: str | None
    columns: str | None


def _on_columns(
    todo: _Input,
    ruleset: RuleSet,
    settings: Settings,
    structure_rules: RuleSet | None,
    cross_check: int,
) -> tuple[ColumnReview | None, dict[str, Any] | None, Any]:
    """The review of a CSV account table or of invoice totals on columns.

    (None, None, None) when the table needs the row path; (None, meta, (rows, before, meta)) when the
    invoice totals do, so that the lines are not read twice.
    """
    from kamrules.inputs.frames import read_review_frame  # polars only for a portfolio
    from kamrules.kam.frame_facts import engine_facts
    from kamrules.kam.frame_review import review_facts

    day = review_date()
    rf = read_review_frame(todo.path, todo.transactions, todo.period, todo.previous, todo.columns, day)
    meta, frame = rf.meta, rf.current
    if todo.transactions:
        from kamrules.kam.period_review import review_periods

        done = review_periods(frame, rf.previous, ruleset, settings, structure_rules, day, cross_check)
        return (done, meta, None) if done is not None else (None, meta, (rf.rows(), rf.before_rows(), meta))
    del rf
    if frame.given_rows is not None:  # not a CSV table: read row by row already
        return None, None, None
    ff = engine_facts(frame, ruleset, settings)
    del frame  # the table as read (its cells as text too) is much of a run's memory and no longer needed
    if ff is None:
        return None, None, None
    return review_facts(ff, ruleset, settings, structure_rules, day, cross_check), meta, None


def _json_stream(stack: contextlib.ExitStack, output: str | None, head: dict[str, Any]) -> pr.JsonStream:
    """The JSON document, written to stdout or to --output while accounts are evaluated."""
    if output is None:
        return pr.JsonStream(lambda text: click.echo(text, nl=False), head)
    out = stack.enter_context(open(output, "w", encoding="utf-8"))  # noqa: SIM115 - closed with the run

    def put(text: str) -> None:
        out.write(text)

    return pr.JsonStream(put, head)


def _json(report: pr.ReviewReport, head: dict[str, Any], output: str | None) -> None:
    """The JSON document, every account as its row, to stdout or to --output a slice of rows at a time."""
    if output is None:
        pr.review_json(report, head, lambda part: click.echo(part, nl=False))  # bytes go to stdout as they are
        return
    with open(output, "wb") as f:
        pr.review_json(report, head, f.write)
    click.echo(written_text(output), err=True)


def _show(report: pr.ReviewReport, fmt: str, output: str | None, head: dict[str, Any]) -> None:
    if fmt == "json":
        _json(report, head, output)
    elif fmt == "xlsx":
        from kamrules.render.export import review_xlsx, stripped_text  # openpyxl only when a workbook is asked for

        rv = report.review
        rows = rv.key_count() if report.view.key_only else rv.account_count()
        if rows >= XLSX_ROWS:  # Excel opens no sheet longer than that (the title row is one)
            raise click.UsageError(
                f"an XLSX sheet holds at most {XLSX_ROWS - 1:,} accounts and this review has {rows:,}: "
                "write .csv or .parquet, or --key-only"
            )

        stripped = review_xlsx(report, str(output))
        if stripped:
            click.echo(stripped_text(str(output), stripped), err=True)
        click.echo(written_text(str(output)), err=True)
    elif fmt == "parquet":
        from kamrules.render.export import review_parquet

        if output is None:  # binary, to standard output as it is
            buf = io.BytesIO()
            review_parquet(report, buf)
            click.echo(buf.getvalue(), nl=False)
        else:
            review_parquet(report, output)
            click.echo(written_text(output), err=True)
    elif fmt == "csv" and output is not None:
        from kamrules.render.export import review_csv_file

        review_csv_file(report, output)
        click.echo(written_text(output), err=True)
    else:
        write(report, fmt, output, name_rules=False)  # the report names its rules at the top


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
@click.option("--transactions", is_flag=True, help="FILE holds invoice lines: aggregate them per account first.")
@click.option("--period", default=None, help="With --transactions: the period (default: the latest complete quarter).")
@rules_option
@format_option
@as_of_option
def abc_cmd(
    file: str,
    metric: str,
    method: str,
    plot: str | None,
    columns: str | None,
    transactions: bool,
    period: str | None,
    rules_dir: str,
    fmt: str,
) -> None:
    """ABC analysis of one metric of an account table or of invoice lines (JSON: Decimals as exact strings)."""
    if period and not transactions:
        raise click.UsageError("--period applies to --transactions only")
    settings = load_settings(rules_dir)
    if transactions:
        lines = read_review_input(file, True, period, None, columns, review_date())[0]
        rows, computed = abc_rows(file, metric, method, settings, columns, lines)
    else:  # read and classed column by column; rows are made when they are written
        from kamrules.inputs.frames import read_account_frame
        from kamrules.inputs.records import parse_column_mapping
        from kamrules.kam.abc_frame import abc_of_frame

        frame = read_account_frame(file, parse_column_mapping(columns) if columns else None)
        rows, computed = abc_of_frame(frame, metric, method, settings)
    if plot:
        from kamrules.render.plot import pareto_plot  # matplotlib only when a chart is asked for

        pareto_plot(rows, metric, plot)
    write(pr.AbcReport(rows, computed, metric, method, settings, plot), fmt)
