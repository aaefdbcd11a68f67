"""Rule coverage: a table per rule set, the rules never fired and the branches never seen; JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kamrules.render.decision import table, to_json
from kamrules.render.scenarios import test_report_dict, test_report_text
from kamrules.render.words import condition_text
from kamrules.scenarios import TestReport
from kamrules.scenarios.coverage import Coverage, RuleSetCoverage


@dataclass(frozen=True)
class CoveredTests:
    """What `kamrules test --coverage` shows: the expectations' outcomes, then the coverage."""

    report: TestReport
    coverage: Coverage


def _branch_word(seen_true: bool, seen_false: bool) -> str:
    if seen_true and seen_false:
        return "both"
    return "only true" if seen_true else "only false" if seen_false else "never"


def _percent(n: int, total: int) -> str:
    return f"{100.0 * n / total:.1f}%" if total else "100.0%"


def coverage_text(c: Coverage) -> str:
    """Per rule set: the summary line, the table of rules, what was never fired or seen, the threshold."""
    return "\n\n".join(_set_text(s, c.threshold) for s in c.sets) or "coverage: no decisions"


def _set_text(s: RuleSetCoverage, threshold: float | None) -> str:
    seen, total = s.branches_seen
    head = (
        f"coverage of {s.ruleset.directory} over {s.decisions} decisions: {s.fired} of {len(s.rules)} rules fired "
        f"({s.percent:.1f}%), {seen} of {total} branch outcomes seen ({_percent(seen, total)})"
    )
    rows = [
        {
            "rule": r.rule.id,
            "source": r.rule.source,
            "fired": r.fired,
            "branches": f"{sum(b.seen_true + b.seen_false for b in r.branches)}/{2 * len(r.branches)}",
        }
        for r in s.rules
    ]
    parts = [head, table(rows, list(rows[0]), "simple") if rows else "(no rules)"]
    never = s.never_fired
    parts.append("never fired: " + (", ".join(f"{r.id} ({r.source})" for r in never) if never else "none"))
    partial = [
        f"  {r.rule.id} {b.path}: {condition_text(b.leaf)} seen {_branch_word(b.seen_true, b.seen_false)}"
        for r in s.rules
        for b in r.branches
        if not (b.seen_true and b.seen_false)
    ]
    parts.append("branches not seen both ways:" + ("\n" + "\n".join(partial) if partial else " none"))
    if threshold is not None:
        verdict = "ok" if s.percent >= threshold else "FAILED"
        parts.append(f"threshold {threshold:g}% of rules fired: {verdict}")
    return "\n".join(parts)


def coverage_dict(c: Coverage) -> dict[str, Any]:
    """Every rule set's coverage, JSON-ready."""
    return {
        "threshold": c.threshold,
        "ok": not c.below,
        "rule_sets": [
            {
                "directory": s.ruleset.directory,
                "rules_version": s.ruleset.version,
                "decisions": s.decisions,
                "rules": len(s.rules),
                "fired": s.fired,
                "percent": round(s.percent, 2),
                "branches": {"seen": s.branches_seen[0], "total": s.branches_seen[1]},
                "never_fired": [r.id for r in s.never_fired],
                "by_rule": [
                    {
                        "rule": r.rule.id,
                        "source": r.rule.source,
                        "fired": r.fired,
                        "branches": [
                            {
                                "path": b.path,
                                "fact": b.leaf.fact,
                                "op": b.leaf.op,
                                "true": b.seen_true,
                                "false": b.seen_false,
                            }
                            for b in r.branches
                        ],
                    }
                    for r in s.rules
                ],
            }
            for s in c.sets
        ],
    }


def covered_text(t: CoveredTests) -> str:
    """The test report, then the coverage."""
    return test_report_text(t.report) + "\n\n" + coverage_text(t.coverage) + "\n"


def covered_json(t: CoveredTests) -> str:
    """One document: the test report's fields and `coverage`."""
    return to_json(test_report_dict(t.report) | {"coverage": coverage_dict(t.coverage)}) + "\n"


def coverage_failure(c: Coverage) -> str:
    """The error message when a rule set is below the threshold."""
    sets = ", ".join(f"{s.ruleset.directory} {s.percent:.1f}%" for s in c.below)
    return f"rule coverage below the threshold of {c.threshold:g}%: {sets}"
