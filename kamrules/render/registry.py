"""One renderer per output object and format: the command line calls `render(obj, fmt)` and writes the result.

Every renderer returns the whole text to write, final line end included, so CSV keeps its own line ends.
Types and renderers are named as text and imported when an object of that type is rendered: a command
loads the renderers of what it shows, not every renderer (and what they import) at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kamrules.audit.log import Entry
    from kamrules.errors import KamrulesError
    from kamrules.render.audit import AuditEntries, Checkpointed, Verified

__all__ = ["RENDERERS", "render"]

Renderer = Callable[[Any], str]


def render(obj: Any, fmt: str) -> str:
    """The text of ``obj`` in format ``fmt``, by the renderer registered for its type (or a base type)."""
    for kind in type(obj).__mro__:
        by_format = RENDERERS.get(f"{kind.__module__}.{kind.__qualname__}")
        if by_format is not None:
            if fmt not in by_format:
                raise LookupError(f"no {fmt} renderer for {kind.__name__} (only {', '.join(by_format)})")
            return _renderer(by_format[fmt])(obj)
    raise LookupError(f"no renderer for {type(obj).__name__}")


def _renderer(target: str) -> Renderer:
    """The function a "module:name" target names (a name without a module is this module's)."""
    module, _, name = target.rpartition(":")
    found: Renderer = getattr(importlib.import_module(module), name) if module else globals()[name]
    return found


def _json(data: Any) -> str:
    from kamrules.render.decision import to_json

    return to_json(data) + "\n"


def _dict_json(obj: Any) -> str:
    """Any output object with a to_dict() as JSON."""
    return _json(obj.to_dict())


# ---------------------------------------------------------------------------- errors


def _error_text(err: KamrulesError) -> str:
    return err.render() + "\n"


# ---------------------------------------------------------------------------- audit


def _entries_text(a: AuditEntries) -> str:
    from kamrules.render.audit import entries_text

    return entries_text(a.entries, a.more) + "\n"


def _entries_json(a: AuditEntries) -> str:
    from kamrules.render.audit import entry_row

    return _json([entry_row(e) | {"seq": e.seq} for e in a.entries])


def _verified_text(v: Verified) -> str:
    from kamrules.render.audit import verification_text

    return verification_text(v.path, v.verification) + "\n"


def _verified_json(v: Verified) -> str:
    return _dict_json(v.verification)


def _checkpointed_text(c: Checkpointed) -> str:
    from kamrules.render.audit import checkpoint_text

    return checkpoint_text(c.path, c.checkpoint) + "\n"


def _checkpointed_json(c: Checkpointed) -> str:
    return _dict_json(c.checkpoint)


def _entry_text(e: Entry) -> str:
    from kamrules.render.audit import record_text

    return record_text(e) + "\n"


def _entry_json(e: Entry) -> str:
    return _json(e.record.to_dict())


def _replay_text(r: Any) -> str:
    from kamrules.render.audit import replay_text

    return replay_text(r) + "\n"


def _backtest_text(b: Any) -> str:
    from kamrules.render.audit import backtest_text

    return backtest_text(b) + "\n"


def _explanation_text(e: Any) -> str:
    from kamrules.render.explain import explanation_text

    return explanation_text(e) + "\n"


# ---------------------------------------------------------------------------- scenarios


def _timeline_text(t: Any) -> str:
    from kamrules.render.scenarios import timeline_text

    return timeline_text(t) + "\n"


def _timeline_json(t: Any) -> str:
    from kamrules.render.scenarios import timeline_dict

    return _json(timeline_dict(t))


def _monte_carlo_text(m: Any) -> str:
    from kamrules.render.scenarios import monte_carlo_text

    return monte_carlo_text(m) + "\n"


def _test_report_text(r: Any) -> str:
    from kamrules.render.scenarios import test_report_text

    return test_report_text(r) + "\n"


def _test_report_json(r: Any) -> str:
    from kamrules.render.scenarios import test_report_dict

    return _json(test_report_dict(r))


# ---------------------------------------------------------------------------- the registry

# "module.Type" -> format -> "module:function" (a bare name is a function of this module).
_AUDIT = "kamrules.render.audit"
_DECISION = "kamrules.render.decision"
_HTML = "kamrules.render.html"
_REVIEW = "kamrules.render.review"
_RULES = "kamrules.render.rules"

RENDERERS: Mapping[str, Mapping[str, str]] = {
    "kamrules.errors.KamrulesError": {
        "table": "_error_text",
        "json": "_dict_json",
        # Commands with CSV or Markdown output report errors as text on stderr.
        "csv": "_error_text",
        "markdown": "_error_text",
        "html": "_error_text",
        "parquet": "_error_text",
    },
    f"{_DECISION}.Evaluated": {
        "table": f"{_DECISION}:evaluated_text",
        "json": f"{_DECISION}:evaluated_json",
        "html": f"{_HTML}:evaluated_html",
    },
    f"{_RULES}.RulesChecked": {
        "table": f"{_RULES}:rules_checked_text",
        "json": f"{_RULES}:rules_checked_json",
    },
    "kamrules.render.diff.DiffReport": {
        "table": "kamrules.render.diff:diff_text",
        "json": "kamrules.render.diff:diff_json",
    },
    "kamrules.render.checks.DeepReport": {
        "table": "kamrules.render.checks:report_text",
        "json": "kamrules.render.checks:report_json",
    },
    f"{_RULES}.RulesListing": {
        "table": f"{_RULES}:listing_text",
        "json": f"{_RULES}:listing_json",
        "csv": f"{_RULES}:listing_csv",
        "markdown": f"{_RULES}:listing_markdown",
    },
    "kamrules.engine.explain.Explanation": {
        "table": "_explanation_text",
        "json": "_dict_json",
        "html": f"{_HTML}:explanation_html",
    },
    # The portfolio's JSON is written while accounts are evaluated, by review.JsonStream.
    f"{_REVIEW}.ReviewReport": {
        "table": f"{_REVIEW}:review_text",
        "csv": "kamrules.render.export:review_csv",
        "markdown": f"{_REVIEW}:review_markdown",
        "html": f"{_HTML}:review_html",
    },
    f"{_REVIEW}.AbcReport": {"table": f"{_REVIEW}:abc_text", "json": f"{_REVIEW}:abc_json"},
    f"{_AUDIT}.AuditEntries": {"table": "_entries_text", "json": "_entries_json"},
    f"{_AUDIT}.Checkpointed": {"table": "_checkpointed_text", "json": "_checkpointed_json"},
    "kamrules.audit.log.Entry": {"table": "_entry_text", "json": "_entry_json"},
    f"{_AUDIT}.Verified": {"table": "_verified_text", "json": "_verified_json"},
    "kamrules.audit.replay.Replay": {"table": "_replay_text", "json": "_dict_json"},
    "kamrules.audit.replay.Backtest": {"table": "_backtest_text", "json": "_dict_json"},
    "kamrules.scenarios.simulate.Timeline": {"table": "_timeline_text", "json": "_timeline_json"},
    "kamrules.scenarios.montecarlo.MonteCarlo": {"table": "_monte_carlo_text", "json": "_dict_json"},
    # One JSON document on stdout: the failures are in it, so only the exit code says more.
    "kamrules.render.coverage.CoveredTests": {
        "table": "kamrules.render.coverage:covered_text",
        "json": "kamrules.render.coverage:covered_json",
    },
    "kamrules.scenarios.expect.TestReport": {"table": "_test_report_text", "json": "_test_report_json"},
}
