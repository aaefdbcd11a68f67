"""The deep check's findings: rustc-style lines with the source and a caret, the witness account as YAML, JSON."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import yaml

from kamrules.engine.deep import WITNESS_ID, DeepCheck, Finding
from kamrules.errors import Problem, Span
from kamrules.lang.model import Fact
from kamrules.render.decision import to_json
from kamrules.render.words import condition_text, fmt

_TARGET_WORDS = {"stage": "the stage", "structure": "the structure"}


def _target(name: str | None) -> str:
    return _TARGET_WORDS.get(str(name), f"'{name}'")


def _value(v: Any) -> str:
    return fmt(v) if not isinstance(v, str) else v


def _dead(f: Finding, _facts: dict[str, Fact]) -> tuple[str, str | None]:
    parts = ", ".join(f"{condition_text(leaf)} (line {leaf.line})" for leaf in f.leaves)
    return (
        f"rule '{f.rules[0]}' can never fire: its conditions contradict each other or the facts' declared ranges",
        f"contradicting: {parts}" if parts else None,
    )


def _conflict(f: Finding, _facts: dict[str, Fact]) -> tuple[str, str | None]:
    mine, other = f.values
    return (
        f"rules '{f.rules[0]}' and '{f.rules[1]}' can fire on the same account at the same priority and conclude "
        f"{_target(f.target)} {_value(mine)} and {_value(other)}: only their ids decide ('{min(f.rules[:2])}' wins)",
        "give one of them a higher priority, or make their conditions exclusive",
    )


def _masked(f: Finding, _facts: dict[str, Fact]) -> tuple[str, str | None]:
    by = ", ".join(f"'{r}'" for r in f.rules[1:]) or "a rule"
    return (
        f"rule '{f.rules[0]}' never decides {_target(f.target)}: whenever it fires, {by} of higher precedence "
        "fires too",
        "lower the other rule's priority, narrow its conditions, or remove this one",
    )


def _late(f: Finding, _facts: dict[str, Fact]) -> tuple[str, str | None]:
    return (
        f"rule '{f.rules[0]}' concludes {_target(f.target)} in a later stratum than '{f.rules[1]}': when both fire, "
        f"'{f.rules[1]}' wins despite its lower priority",
        "a derived fact is settled by the first stratum that concludes it; conclude it in one stratum",
    )


def _out_of_range(f: Finding, facts: dict[str, Fact]) -> tuple[str, str | None]:
    leaf = f.leaves[0]
    bounds = "; ".join(_bounds(facts[n]) for n in sorted(leaf.facts()))
    return (
        f"'{condition_text(leaf)}' in rule '{f.rules[0]}' {f.holds} holds: {bounds}",
        "the threshold lies at or beyond the values the fact can take (facts.yaml); move it inside the range",
    )


def _bounds(fact: Fact) -> str:
    if fact.type == "enum":
        return f"'{fact.name}' is one of " + ", ".join(fact.values or ())
    if fact.range is not None:
        return f"'{fact.name}' lies in [{fmt(fact.range[0])}, {fmt(fact.range[1])}]"
    return f"'{fact.name}' is {fact.type}"


def _unconcluded(f: Finding, _facts: dict[str, Fact]) -> tuple[str, str | None]:
    default = f.values[0] if f.values else None
    value = f"always {_value(default)} (its default)" if default is not None else "always missing"
    readers = ", ".join(f"'{r}'" for r in f.rules)
    read = f"; rules reading it: {readers}" if readers else ""
    return (
        f"derived fact '{f.target}' is concluded by no rule, so it is {value}{read}",
        "add a rule that derives it, or declare it 'source: given'",
    )


def _gap(f: Finding, _facts: dict[str, Fact]) -> tuple[str, str | None]:
    return (
        f"a key account in {f.stage} can match no stage rule: it holds in {f.stage} by default",
        "holding is a choice; the account below shows a state no stage rule covers",
    )


_WORDS = {
    "dead": _dead,
    "conflict": _conflict,
    "masked": _masked,
    "late-stratum": _late,
    "out-of-range": _out_of_range,
    "unconcluded": _unconcluded,
    "gap": _gap,
}


def problem(f: Finding, facts: dict[str, Fact]) -> Problem:
    """The finding as a problem line: file:line:col, severity, message, help."""
    message, help_text = _WORDS[f.kind](f, facts)
    return Problem(Span(f.file, f.line, f.col), message, help=help_text, code=f.kind, severity=f.severity)


def witness_yaml(f: Finding) -> str:
    """The witness as an account file `kamrules evaluate` reads."""
    facts = dict(f.witness or ())
    doc = {"account": WITNESS_ID, "name": f"{f.kind} witness for rule {f.rules[0]}" if f.rules else f.kind}
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    body = yaml.safe_dump({"facts": facts}, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return text + body


@dataclass(frozen=True)
class DeepReport:
    """What `kamrules rules check --deep` shows: the deep check of each rule set of a folder."""

    checks: tuple[DeepCheck, ...]

    @property
    def ok(self) -> bool:
        """No rule set has an error."""
        return not any(c.count("error") for c in self.checks)


def report_text(r: DeepReport) -> str:
    """Each rule set's findings, one after the other."""
    return "\n".join(deep_check_text(c) for c in r.checks)


def report_json(r: DeepReport) -> str:
    """One document: ok, and each rule set's findings."""
    return to_json({"ok": r.ok, "rule_sets": [deep_check_dict(c) for c in r.checks]}) + "\n"


def deep_check_text(c: DeepCheck) -> str:
    """Every finding with its source line and its witness, then a summary line."""
    sources = dict(c.ruleset.files)
    blocks = []
    for f in c.findings:
        block = problem(f, c.ruleset.facts).render(sources.get(f.file.rsplit("/", 1)[-1]))
        if f.witness is not None:
            as_of = f" --as-of {c.as_of.isoformat()}" if c.as_of else ""
            lines = witness_yaml(f).rstrip("\n").splitlines()
            block += f"\n  witness (kamrules evaluate WITNESS.yaml{as_of} shows it):\n" + "\n".join(
                "    " + line for line in lines
            )
        blocks.append(block)
    counts = ", ".join(_plural(c.count(s), s) if s != "info" else f"{c.count(s)} info" for s in SEVERITIES)
    summary = f"{c.ruleset.directory}: deep check: {_plural(len(c.ruleset.rules), 'rule')}, {counts}"
    return "\n\n".join([*blocks, summary]) + "\n"


SEVERITIES = ("error", "warning", "info")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def deep_check_dict(c: DeepCheck) -> dict[str, Any]:
    """The findings as data: each problem's fields, its kind, rules, target and witness facts."""
    findings = []
    for f in c.findings:
        d = problem(f, c.ruleset.facts).to_dict() | {"kind": f.kind, "rules": list(f.rules), "target": f.target}
        d["witness"] = {k: _plain(v) for k, v in f.witness} if f.witness is not None else None
        findings.append(d)
    return {
        "directory": c.ruleset.directory,
        "ok": c.count("error") == 0,
        "rules": len(c.ruleset.rules),
        "rules_version": c.ruleset.version,
        "as_of": c.as_of.isoformat() if c.as_of else None,
        "counts": {s: c.count(s) for s in SEVERITIES},
        "findings": findings,
    }


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date) else v
