"""One renderer per output object and format: the command line calls `render(obj, fmt)` and writes the result.

Every renderer returns the whole text to write, final line end included, so CSV keeps its own line ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kamrules.audit.log import Entry, Verification
from kamrules.audit.replay import Backtest, Replay
from kamrules.engine.explain import Explanation, explanation_text
from kamrules.errors import KamrulesError
from kamrules.render import decision, review
from kamrules.render.audit import (
    backtest_text,
    entries_text,
    entry_row,
    record_text,
    replay_text,
    verification_text,
)
from kamrules.render.decision import table, to_json
from kamrules.render.words import fixed, percent
from kamrules.scenarios.spec import MonteCarlo, TestReport, Timeline, monte_carlo_rows, timeline_header, timeline_rows

__all__ = ["RENDERERS", "AuditEntries", "Verified", "render"]

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


def _dict_json(obj: Any) -> str:
    """Any output object with a to_dict() as JSON."""
    return to_json(obj.to_dict()) + "\n"


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


@dataclass(frozen=True)
class Verified:
    """What `kamrules audit verify` shows: the log that was walked and what was found."""

    path: Path
    verification: Verification


def _entries_json(a: AuditEntries) -> str:
    return to_json([entry_row(e) | {"seq": e.seq} for e in a.entries]) + "\n"


def _verified_text(v: Verified) -> str:
    return verification_text(v.path, v.verification) + "\n"


# ---------------------------------------------------------------------------- scenarios


def _timeline_text(t: Timeline) -> str:
    rows = timeline_rows(t)
    return timeline_header(t.scenario) + "\n" + table(rows, list(rows[0]), "simple", 40) + "\n"


def _monte_carlo_text(mc: MonteCarlo) -> str:
    rows = monte_carlo_rows(mc)
    head = (
        f"Scenario {mc.scenario}: {mc.runs} runs, seed {mc.seed}; probability of each stage at the end of each period"
    )
    if mc.times:
        t = mc.to_dict()["time_to_target"]
        tail = (
            f"time to reach {mc.target}: mean {fixed(mc.mean_time, 2)} periods, p10 {t['p10']}, p50 {t['p50']}, "
            f"p90 {t['p90']} (among the {len(mc.times)} runs that reach it); never reached in "
            f"{percent(mc.never_share)} of runs"
        )
    else:
        tail = f"time to reach {mc.target}: never reached in any of the {mc.runs} runs"
    return head + "\n" + table(rows, list(rows[0]), "simple", None) + "\n" + tail + "\n"


def _test_json(r: TestReport) -> str:
    # One JSON document on stdout: the failures are in it, so only the exit code says more.
    return to_json({"passed": r.passed, "failed": r.failed, "outcomes": [o.to_dict() for o in r.outcomes]}) + "\n"


def _test_text(r: TestReport) -> str:
    return "".join(o.line() + "\n" for o in r.outcomes) + r.summary() + "\n"


# ---------------------------------------------------------------------------- the registry

RENDERERS: Mapping[type, Mapping[str, Renderer]] = {
    KamrulesError: {
        "table": _error_text,
        "json": _dict_json,
        # Commands with CSV or Markdown output report errors as text on stderr.
        "csv": _error_text,
        "markdown": _error_text,
    },
    decision.Evaluated: {"table": decision.evaluated_text, "json": decision.evaluated_json},
    decision.RulesChecked: {"table": decision.rules_checked_text, "json": decision.rules_checked_json},
    decision.RulesListing: {
        "table": decision.listing_text,
        "json": decision.listing_json,
        "csv": decision.listing_csv,
        "markdown": decision.listing_markdown,
    },
    Explanation: {"table": _lines(explanation_text), "json": _dict_json},
    # The portfolio's JSON is written while accounts are evaluated, by review.JsonStream.
    review.ReviewReport: {"table": review.review_text, "csv": review.review_csv, "markdown": review.review_markdown},
    review.AbcReport: {"table": review.abc_text, "json": review.abc_json},
    AuditEntries: {"table": lambda a: entries_text(a.entries) + "\n", "json": _entries_json},
    Entry: {"table": _lines(record_text), "json": lambda e: to_json(e.record.to_dict()) + "\n"},
    Verified: {"table": _verified_text, "json": lambda v: _dict_json(v.verification)},
    Replay: {"table": _lines(replay_text), "json": _dict_json},
    Backtest: {"table": _lines(backtest_text), "json": _dict_json},
    Timeline: {"table": _timeline_text, "json": _dict_json},
    MonteCarlo: {"table": _monte_carlo_text, "json": _dict_json},
    TestReport: {"table": _test_text, "json": _test_json},
}
