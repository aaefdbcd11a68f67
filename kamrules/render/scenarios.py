"""What `kamrules simulate` and `kamrules test` show: timelines, Monte Carlo tables, PASS/FAIL lines, JSON forms."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kamrules.lang import ALL_STAGES
from kamrules.render.decision import table
from kamrules.scenarios.expect import LIST_KINDS, Outcome, TestReport
from kamrules.scenarios.model import Expectation, Scenario
from kamrules.scenarios.montecarlo import MonteCarlo
from kamrules.scenarios.simulate import Clamp, PortfolioStepResult, StepResult, Timeline

__all__ = [
    "clamp_text",
    "expectation_text",
    "failure_message",
    "monte_carlo_text",
    "outcome_dict",
    "outcome_line",
    "test_report_dict",
    "test_report_text",
    "timeline_dict",
    "timeline_text",
]


def _shown(value: Any) -> str:
    """A value as the expectations write it (true/false in lower case, as in YAML)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def clamp_text(c: Clamp) -> str:
    """A change stopped at a bound, as shown among the events of its period."""
    return (f"{c.account}: " if c.account else "") + f"{c.fact} clamped to {c.bound}"


# ---------------------------------------------------------------------------- kamrules test


def expectation_text(e: Expectation) -> str:
    """The expectation in words, as shown on PASS/FAIL lines."""
    if e.kind == "action":
        return f"actions include {e.value}"
    if e.kind == "no_action":
        return f"actions exclude {e.value}"
    if e.kind == "fired":
        return f"fired include {e.value}"
    return f"{e.kind} = {_shown(e.value)}"


def _observed_text(o: Outcome) -> str:
    e, seen = o.expectation, o.observed
    if e.kind in LIST_KINDS:
        listed = ", ".join(seen) or "none"
        if e.kind == "no_action":
            return "absent" if o.passed else f"present (actions: {listed})"
        if e.kind == "fired":
            return "fired" if o.passed else f"not fired (fired: {listed})"
        return "present" if o.passed else f"absent (actions: {listed})"
    if o.portfolio and e.kind == "structure":
        return f"{seen or 'none'} (rule {o.rule or 'none'})"
    return "none" if seen is None else _shown(seen)


def outcome_line(o: Outcome) -> str:
    """The PASS/FAIL line of ``kamrules test``."""
    e = o.expectation
    head = f"{o.scenario} period {o.period} {expectation_text(e)}"
    if o.passed:
        return f"PASS {head}"
    expected = {"action": "present", "no_action": "absent", "fired": "fired"}.get(e.kind, _shown(e.value))
    return f"FAIL {head}: expected {expected}, observed {_observed_text(o)} ({e.span})"


def outcome_dict(o: Outcome) -> dict[str, Any]:
    """One checked expectation, JSON-ready."""
    e = o.expectation
    return {
        "scenario": o.scenario,
        "period": o.period,
        "expectation": expectation_text(e),
        "passed": o.passed,
        "observed": _observed_text(o),
        "file": e.span.file,
        "line": e.span.line,
        "column": e.span.col,
    }


def test_report_text(report: TestReport) -> str:
    """Every PASS/FAIL line, then the summary line."""
    lines = [outcome_line(o) for o in report.outcomes]
    return "\n".join([*lines, f"{report.passed} passed, {report.failed} failed"])


def test_report_dict(report: TestReport) -> dict[str, Any]:
    """The counts and every checked expectation, JSON-ready."""
    return {"passed": report.passed, "failed": report.failed, "outcomes": [outcome_dict(o) for o in report.outcomes]}


def failure_message(report: TestReport) -> str:
    """The error message when expectations failed."""
    return f"{report.failed} of {len(report.outcomes)} expectations failed"


# ---------------------------------------------------------------------------- kamrules simulate


def timeline_text(timeline: Timeline) -> str:
    """What is simulated, from where, under which rules; then the timeline as a table."""
    rows = [_row(p) for p in timeline.steps]
    return _header(timeline.scenario) + "\n" + table(rows, list(rows[0]), "simple", 40)


def _header(scenario: Scenario) -> str:
    rules = f"rules {scenario.ruleset.directory} version {scenario.ruleset.version[:12]}"
    if scenario.is_portfolio:
        return (
            f"Scenario {scenario.name}: portfolio {scenario.portfolio_file} ({len(scenario.portfolio)} accounts), "
            f"{rules}"
        )
    a = scenario.single_account
    return f"Scenario {scenario.name}: account {a.id}, starting in {a.facts['stage']}, {rules}"


def _events(p: StepResult | PortfolioStepResult) -> str:
    return "; ".join(p.events + tuple(clamp_text(c) for c in p.clamps))


def _row(p: StepResult | PortfolioStepResult) -> dict[str, Any]:
    """One period as a table row: period, events, stage, move, key account, actions, rules fired.

    For a portfolio: period, events, key accounts, structure, structure rule, and how many accounts got each move.
    """
    if isinstance(p, PortfolioStepResult):
        moves = ", ".join(f"{m} {n}" for m, n in p.move_counts().items())
        refused = p.refused and any(m != "hold" for m in p.moves.values())
        return {
            "period": p.label,
            "events": _events(p),
            "key accounts": len(p.key_accounts),
            "structure": p.structure.structure or "—",
            "structure rule": p.structure.structure_rule or "—",
            "moves": moves + (" (refused)" if refused else ""),
        }
    d = p.decision
    return {
        "period": p.label,
        "events": _events(p),
        "stage": d.stage_current if d.stage_current == p.stage else f"{d.stage_current} → {p.stage}",
        "move": d.move + (" (refused)" if p.refused and d.move != "hold" else ""),
        "key account": "—" if d.key_account is None else ("yes" if d.key_account else "no"),
        "actions": ", ".join(p.action_ids),
        "rules fired": ", ".join(d.fired),
    }


def timeline_dict(timeline: Timeline) -> dict[str, Any]:
    """The timeline, JSON-ready."""
    s = timeline.scenario
    periods = [_step_dict(p) for p in timeline.steps]
    head = {"scenario": s.name, "file": s.file, "description": s.description}
    rules = {"rules": s.ruleset.directory, "rules_version": s.ruleset.version}
    if s.is_portfolio:
        return head | {"portfolio": s.portfolio_file, "accounts": len(s.portfolio)} | rules | {"periods": periods}
    a = s.single_account
    return head | {"account": a.id} | rules | {"start_stage": a.facts.get("stage"), "periods": periods}


def _step_dict(p: StepResult | PortfolioStepResult) -> dict[str, Any]:
    if isinstance(p, PortfolioStepResult):
        s = p.structure
        return {
            "period": p.label,
            "events": list(p.events),
            "key_accounts": len(p.key_accounts),
            "key_account_ids": list(p.key_accounts),
            "structure": s.structure,
            "structure_rule": s.structure_rule,
            "portfolio_facts": dict(p.portfolio_facts),
            "moves": p.move_counts(),
            "refused": p.refused,
            "accounts": {a: {"move": p.moves.get(a), "stage": st} for a, st in p.stages.items()},
            "notes": [clamp_text(c) for c in p.clamps],
        }
    d = p.decision
    return {
        "period": p.label,
        "events": list(p.events),
        "stage_before": d.stage_current,
        "stage_recommended": d.stage_recommended,
        "move": d.move,
        "stage_rule": d.stage_rule,
        "refused": p.refused,
        "stage": p.stage,
        "key_account": d.key_account,
        "structure": d.structure,
        "actions": p.action_ids,
        "fired": d.fired,
        "notes": [clamp_text(c) for c in p.clamps],
        "facts": {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in d.given.items()},
    }


def monte_carlo_text(mc: MonteCarlo) -> str:
    """The stage probabilities per period as a table, then the time to reach the target stage."""
    used = [s for s in ALL_STAGES if any(row[s] for row in mc.counts)]  # stages no run ever reached are left out
    # Percentages as text, so tabulate keeps them as written.
    periods = zip(mc.periods, mc.probabilities(), strict=True)
    rows = [{"period": label, **{s: f"{p[s]:.1%}" for s in used}} for label, p in periods]
    out = [
        f"Scenario {mc.scenario}: {mc.runs} runs, seed {mc.seed}; probability of each stage at the end of each period",
        table(rows, list(rows[0]), "simple", None),
    ]
    if mc.reached:
        out.append(
            f"time to reach {mc.target}: mean {mc.mean_time:.2f} periods, p10 {mc.percentile(10)}, "
            f"p50 {mc.percentile(50)}, p90 {mc.percentile(90)} (among the {mc.reached} runs that reach it); "
            f"never reached in {mc.never_share:.1%} of runs"
        )
    else:
        out.append(f"time to reach {mc.target}: never reached in any of the {mc.runs} runs")
    return "\n".join(out)
