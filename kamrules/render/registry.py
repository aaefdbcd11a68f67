"""One renderer per output object and format: the command line calls `render(obj, fmt)` and writes the result.

Every renderer returns the whole text to write, final line end included, so CSV keeps its own line ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kamrules.audit.checkpoint import Checkpoint
from kamrules.audit.log import Entry
from kamrules.audit.replay import Backtest, Replay
from kamrules.audit.verify import Verification
from kamrules.engine.explain import Explanation
from kamrules.errors import KamrulesError
from kamrules.render import checks, coverage, decision, diff, export, html, review, scenarios
from kamrules.render.audit import (
    backtest_text,
    checkpoint_text,
    entries_text,
    entry_row,
    record_text,
    replay_text,
    verification_text,
)
from kamrules.render.decision import to_json
from kamrules.render.explain import explanation_text
from kamrules.scenarios import MonteCarlo, TestReport, Timeline

__all__ = ["RENDERERS", "AuditEntries", "Checkpointed", "Verified", "render"]

Renderer = Callable[[Any], str]


def render(obj: Any, fmt: str) -> str:
    """The text of ``obj`` in format ``fmt``, by the renderer registered for its type (or a base type)."""
    for kind in type(obj).__mro__:
        if kind in RENDERERS:
            by_format = RENDERERS[kind]
            if fmt not in by_format:
                raise LookupError(f"no {fmt} renderer for {kind.__name__} (only {', '.join(by_format)})")
            return by_format[fmt](obj)
    raise LookupError(f"no renderer for {type(obj).__name__}")


def _json(data: Any) -> str:
    return to_json(data) + "\n"


def _dict_json(obj: Any) -> str:
    """Any output object with a to_dict() as JSON."""
    return _json(obj.to_dict())


def _lines(text_of: Callable[[Any], str]) -> Renderer:
    """A renderer from a function that gives the text without its final line end."""
    return lambda obj: text_of(obj) + "\n"


# ---------------------------------------------------------------------------- errors


def _error_text(err: KamrulesError) -> str:
    return err.render() + "\n"


# ---------------------------------------------------------------------------- audit


@dataclass(frozen=True)
class AuditEntries:
    """What `kamrules audit list` shows: the matching entries of the decision log, oldest first."""

    entries: tuple[Entry, ...]
    more: int = 0  # matching entries left out by --limit


@dataclass(frozen=True)
class Verified:
    """What `kamrules audit verify` shows: the log that was walked and what was found."""

    path: Path
    verification: Verification


@dataclass(frozen=True)
class Checkpointed:
    """What `kamrules audit checkpoint` shows: the head of a log; its JSON is the checkpoint file."""

    path: Path
    checkpoint: Checkpoint


def _entries_json(a: AuditEntries) -> str:
    return to_json([entry_row(e) | {"seq": e.seq} for e in a.entries]) + "\n"


def _verified_text(v: Verified) -> str:
    return verification_text(v.path, v.verification) + "\n"


# ---------------------------------------------------------------------------- the registry

RENDERERS: Mapping[type, Mapping[str, Renderer]] = {
    KamrulesError: {
        "table": _error_text,
        "json": _dict_json,
        # Commands with CSV or Markdown output report errors as text on stderr.
        "csv": _error_text,
        "markdown": _error_text,
        "html": _error_text,
    },
    decision.Evaluated: {
        "table": decision.evaluated_text,
        "json": decision.evaluated_json,
        "html": html.evaluated_html,
    },
    decision.RulesChecked: {"table": decision.rules_checked_text, "json": decision.rules_checked_json},
    diff.DiffReport: {"table": diff.diff_text, "json": diff.diff_json},
    checks.DeepReport: {"table": checks.report_text, "json": checks.report_json},
    decision.RulesListing: {
        "table": decision.listing_text,
        "json": decision.listing_json,
        "csv": decision.listing_csv,
        "markdown": decision.listing_markdown,
    },
    Explanation: {"table": _lines(explanation_text), "json": _dict_json, "html": html.explanation_html},
    # The portfolio's JSON is written while accounts are evaluated, by review.JsonStream.
    review.ReviewReport: {
        "table": review.review_text,
        "csv": export.review_csv,
        "markdown": review.review_markdown,
        "html": html.review_html,
    },
    review.AbcReport: {"table": review.abc_text, "json": review.abc_json},
    AuditEntries: {"table": lambda a: entries_text(a.entries, a.more) + "\n", "json": _entries_json},
    Checkpointed: {
        "table": lambda c: checkpoint_text(c.path, c.checkpoint) + "\n",
        "json": lambda c: _dict_json(c.checkpoint),
    },
    Entry: {"table": _lines(record_text), "json": lambda e: to_json(e.record.to_dict()) + "\n"},
    Verified: {"table": _verified_text, "json": lambda v: _dict_json(v.verification)},
    Replay: {"table": _lines(replay_text), "json": _dict_json},
    Backtest: {"table": _lines(backtest_text), "json": _dict_json},
    Timeline: {"table": _lines(scenarios.timeline_text), "json": lambda t: _json(scenarios.timeline_dict(t))},
    MonteCarlo: {"table": _lines(scenarios.monte_carlo_text), "json": _dict_json},
    # One JSON document on stdout: the failures are in it, so only the exit code says more.
    coverage.CoveredTests: {"table": coverage.covered_text, "json": coverage.covered_json},
    TestReport: {"table": _lines(scenarios.test_report_text), "json": lambda r: _json(scenarios.test_report_dict(r))},
}
