"""The command line: parse, call the library, render, exit. No logic of its own."""
from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Callable

import click

from . import __version__, report
from .errors import EXIT_OK, InvalidInput, KamrulesError
from .evaluate import Evaluator
from .loader import load_account, load_ruleset

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
    else:
        sys.exit(code or EXIT_OK)


rules_option = click.option("--rules", "rules_dir", default=DEFAULT_RULES, show_default=True,
                            type=click.Path(file_okay=False), help="Rules folder (facts.yaml and rule files).")
format_option = click.option("--format", "fmt", type=FORMATS, default="table", show_default=True,
                             help="Output format.")


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
def evaluate(account_files: tuple[str, ...], rules_dir: str, fmt: str) -> None:
    """Evaluate account files: key account?, stage move, actions, and why."""

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
        with Evaluator(ruleset) as ev:
            decisions = ev.evaluate_many(accounts)
        if fmt == "json":
            data = [d.to_dict() for d in decisions]
            click.echo(report.to_json(data[0] if len(data) == 1 else data))
        else:
            click.echo("\n\n".join(report.decision_text(d, ruleset) for d in decisions))

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
        if fmt == "json":
            click.echo(report.to_json({"ok": True, "rules": len(rs.rules), "facts": len(rs.facts),
                                       "strata": rs.strata, "rules_version": rs.version}))
        else:
            click.echo(f"{rules_dir}: ok: {len(rs.rules)} rules, {len(rs.facts)} facts, {rs.strata} strata, "
                       f"version {rs.version[:12]}")

    run_guarded(fmt, body)


@rules.command("list")
@click.argument("rules_dir", default=DEFAULT_RULES, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]), default="table",
              show_default=True, help="Output format.")
def rules_list(rules_dir: str, fmt: str) -> None:
    """The rules as a table: id, where, priority, when, then."""

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
            click.echo(report.table(rows, cols, "github" if fmt == "markdown" else "simple",
                                    None if fmt == "markdown" else 50))

    run_guarded("json" if fmt == "json" else "table", body)


if __name__ == "__main__":  # pragma: no cover
    main()
