"""What every command shares: the error handler, the output writer and the common options."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

from kamrules.errors import EXIT_OK, EngineError, InvalidInput, KamrulesError
from kamrules.lang.defaults import ENV_RULES, find_rules

if TYPE_CHECKING:
    from click.decorators import FC

# The error handler shows an error in the format the command was asked for; the option leaves it here.
FORMAT_KEY = "kamrules.format"
# Where the rules came from (a RulesSource): every text output ends with it.
RULES_KEY = "kamrules.rules"


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


# The renderers (kamrules.render) are imported when there is something to show, not when a command is
# looked up: the registry reaches every renderer, and most commands need one.


def _show(err: KamrulesError, ctx: click.Context) -> int:
    from kamrules.render.registry import render

    fmt = ctx.meta.get(FORMAT_KEY, "table")
    # A JSON error is the command's one document on stdout; text goes to stderr.
    click.echo(render(err, fmt), nl=False, err=fmt != "json")
    return err.exit_code


def write(obj: Any, fmt: str, output: str | None = None, name_rules: bool = True) -> None:
    """Render ``obj`` to stdout, or to the file ``output``; text output ends with where the rules came from."""
    from kamrules.render.registry import render
    from kamrules.render.words import rules_source_text, written_text

    text = render(obj, fmt)
    source = click.get_current_context().meta.get(RULES_KEY)
    if fmt == "table" and source is not None and name_rules:
        text += rules_source_text(source) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    click.echo(written_text(output), err=True)


# --output FILE: the format from the file's extension.
OUTPUT_FORMATS = {
    ".txt": "table",
    ".md": "markdown",
    ".csv": "csv",
    ".json": "json",
    ".html": "html",
    ".xlsx": "xlsx",
    ".parquet": "parquet",
}


def output_option(*formats: str) -> Callable[[FC], FC]:
    """--output FILE, whose extension says the format (one of ``formats``); it overrides --format."""
    allowed = {ext: f for ext, f in OUTPUT_FORMATS.items() if f in formats}

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            ext = os.path.splitext(value)[1].lower()
            if ext not in allowed:
                raise click.BadParameter(f"'{value}': the extension must be one of {', '.join(allowed)}", ctx, param)
            # Before the run, not when its result is written (a missing folder was an internal error then).
            folder = os.path.dirname(value) or "."
            if not os.path.isdir(folder):
                raise click.BadParameter(f"'{value}': there is no folder '{folder}' to write it in", ctx, param)
            if not os.access(folder, os.W_OK):
                raise click.BadParameter(f"'{value}': the folder '{folder}' is not writable", ctx, param)
            ctx.meta[FORMAT_KEY] = "table" if allowed[ext] in ("xlsx", "html", "parquet") else allowed[ext]
        return value

    return click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False),
        default=None,
        callback=check,
        help=f"Write to this file; the format is the extension's ({', '.join(allowed)}).",
    )


def output_format(output: str | None, fmt: str) -> str:
    """The format of the output: the extension of --output when given, else --format."""
    return OUTPUT_FORMATS[os.path.splitext(output)[1].lower()] if output else fmt


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


def _find_rules(ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    source = find_rules(value)
    ctx.meta[RULES_KEY] = source
    return source.path


def given_rules() -> bool:
    """Whether the command was given its rules folder (then its output names it already)."""
    source = click.get_current_context().meta.get(RULES_KEY)
    return source is not None and source.origin == "option"


# The rules folder as an argument (rules check, rules list): when left out, the same order as --rules.
rules_argument = click.argument("rules_dir", required=False, type=click.Path(), callback=_find_rules)
rules_option = rules_dir_option(
    f"Rules folder (facts.yaml and rule files). Default: ./rules when present, else ${ENV_RULES}, "
    "else the rules shipped with kamrules.",
    callback=_find_rules,
)
format_option = _format_option("table", "json")
all_formats_option = _format_option("table", "json", "csv", "markdown")
review_formats_option = _format_option("table", "json", "csv", "markdown", "html", "parquet")
report_formats_option = _format_option("table", "json", "html")


@contextlib.contextmanager
def input_file(path: str) -> Iterator[str]:
    """The path of an input file; for ``-``, standard input saved to a temporary stdin.csv (or stdin.json)."""
    if path != "-":
        yield path
        return
    import tempfile  # shutil and random, only for standard input

    data = sys.stdin.buffer.read()
    suffix = ".json" if data.lstrip()[:1] in (b"[", b"{") else ".csv"
    with tempfile.TemporaryDirectory(prefix="kamrules-") as tmp:
        name = os.path.join(tmp, "stdin" + suffix)
        with open(name, "wb") as f:
            f.write(data)
        try:
            yield name
        except InvalidInput as e:  # the problems name standard input, not a file that is gone by then
            stdin = [dataclasses.replace(p, span=p.span._replace(file="<stdin>")) for p in e.problems]
            raise InvalidInput(stdin) from None


# The review date: computed facts read it as `as_of`, the review's dates (review due) are counted to it.
# It is set for the command's whole run and undone when it ends.
def _review_date(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
    from kamrules.engine.compute import reviewing_on

    ctx.with_resource(reviewing_on(value.date() if value is not None else None))


as_of_option = click.option(
    "--as-of", type=click.DateTime(["%Y-%m-%d"]), expose_value=False, callback=_review_date,
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
