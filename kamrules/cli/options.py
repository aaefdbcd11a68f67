"""What every command shares: the error handler, the output writer and the common options."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click
from click.decorators import FC

from kamrules.engine.compute import reviewing_on
from kamrules.errors import EXIT_OK, EngineError, KamrulesError
from kamrules.render.registry import render
from kamrules.scenarios import DEFAULT_RULES

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


def write(obj: Any, fmt: str) -> None:
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


def rules_dir_option(help: str, **kwargs: Any) -> Callable[[FC], FC]:
    return click.option("--rules", "rules_dir", type=click.Path(file_okay=False), help=help, **kwargs)


rules_option = rules_dir_option("Rules folder (facts.yaml and rule files).", default=DEFAULT_RULES, show_default=True)
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


since_option = click.option(
    "--since",
    default=None,
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Only decisions recorded on or after this UTC date (YYYY-MM-DD).",
    callback=lambda _ctx, _param, value: value.isoformat() if value else None,  # the log stores ISO text
)
