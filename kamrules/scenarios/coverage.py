"""Rule coverage (`kamrules test --coverage`): which rules fired, which comparisons were seen true and false.

Decisions come from the scenarios' timelines (an account's step, a portfolio step's structure decision)
and from account cases: YAML files with a `cases:` list of `{name, facts, expect}`, as in tests/cases/,
each evaluated by the rule set whose facts it names. A comparison (branch) counts as seen true or false
when it held or failed on the facts of a decision, whether or not its rule fired.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kamrules.engine import Decision, Evaluator
from kamrules.engine.reference import leaf_holds, leaf_paths
from kamrules.errors import InvalidInput, Problem, Span
from kamrules.kam import load_structure_rules
from kamrules.lang import RuleSet, YNode, fact_value_problem, read_yaml
from kamrules.lang.model import Account, Leaf, Rule
from kamrules.lang.problems import Problems, node_value
from kamrules.scenarios.simulate import PortfolioStepResult, Timeline


@dataclass(frozen=True)
class Branch:
    """One comparison of a rule: where it stands and whether it was seen holding and failing."""

    path: str
    leaf: Leaf
    seen_true: bool
    seen_false: bool


@dataclass(frozen=True)
class RuleCoverage:
    """One rule: in how many decisions it fired, and its comparisons."""

    rule: Rule
    fired: int
    branches: tuple[Branch, ...]


@dataclass(frozen=True)
class RuleSetCoverage:
    """The coverage of one rule set over the decisions made with it."""

    ruleset: RuleSet
    decisions: int
    rules: tuple[RuleCoverage, ...]

    @property
    def fired(self) -> int:
        """How many rules fired at least once."""
        return sum(r.fired > 0 for r in self.rules)

    @property
    def never_fired(self) -> list[Rule]:
        """The rules no decision fired."""
        return [r.rule for r in self.rules if not r.fired]

    @property
    def percent(self) -> float:
        """Rules fired, in percent of all rules (100 for a rule set without rules)."""
        return 100.0 * self.fired / len(self.rules) if self.rules else 100.0

    @property
    def branches_seen(self) -> tuple[int, int]:
        """(branch outcomes seen, branch outcomes in all): each comparison counts true and false."""
        seen = sum(b.seen_true + b.seen_false for r in self.rules for b in r.branches)
        return seen, 2 * sum(len(r.branches) for r in self.rules)


@dataclass(frozen=True)
class Coverage:
    """The coverage of every rule set the scenarios and cases used, and the threshold it is held to."""

    sets: tuple[RuleSetCoverage, ...]
    threshold: float | None = None  # percent of rules that must fire, in every rule set

    @property
    def below(self) -> list[RuleSetCoverage]:
        """The rule sets whose rule coverage is under the threshold."""
        if self.threshold is None:
            return []
        return [s for s in self.sets if s.percent < self.threshold]


class _Tally:
    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.decisions = 0
        self.fired = dict.fromkeys((r.id for r in ruleset.rules), 0)
        self.leaves = {r.id: tuple(leaf_paths(r.when)) for r in ruleset.rules}
        self.seen: dict[tuple[str, str], set[bool]] = {}

    def add(self, d: Decision) -> None:
        self.decisions += 1
        facts: dict[str, Any] = {**d.given, **d.derived, **{c.fact: c.value for c in d.computed if c.value is not None}}
        for rid in d.fired:
            self.fired[rid] += 1
        for rid, leaves in self.leaves.items():
            for path, leaf in leaves:
                self.seen.setdefault((rid, path), set()).add(leaf_holds(leaf, facts))

    def result(self) -> RuleSetCoverage:
        rules = []
        for r in self.ruleset.rules:
            branches = []
            for path, leaf in self.leaves[r.id]:
                seen = self.seen.get((r.id, path), set())
                branches.append(Branch(path, leaf, True in seen, False in seen))
            rules.append(RuleCoverage(r, self.fired[r.id], tuple(branches)))
        return RuleSetCoverage(self.ruleset, self.decisions, tuple(rules))


class CoverageCounter:
    """Counts decisions per rule set as scenarios run and cases are evaluated."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._structure: dict[str, RuleSet | None] = {}

    def add(self, ruleset: RuleSet, decision: Decision) -> None:
        """One decision made with the rule set."""
        key = (ruleset.directory, ruleset.version)
        if key not in self._tallies:
            self._tallies[key] = _Tally(ruleset)
        self._tallies[key].add(decision)

    def timeline(self, timeline: Timeline) -> None:
        """Every decision of a scenario's run (the observer of run_tests)."""
        rs = timeline.scenario.ruleset
        for step in timeline.steps:
            if not isinstance(step, PortfolioStepResult):
                self.add(rs, step.decision)
                continue
            if rs.directory not in self._structure:
                self._structure[rs.directory] = load_structure_rules(rs.directory)
            structure_rules = self._structure[rs.directory]
            if structure_rules is not None and step.structure.decision is not None:
                self.add(structure_rules, step.structure.decision)

    def cases(self, paths: Sequence[str | Path], rules: Sequence[RuleSet]) -> None:
        """Evaluate every case of the case files under ``paths`` by the first rule set that declares its facts."""
        grouped: dict[int, list[Account]] = {}
        col = Problems()
        for path in _case_files(paths):
            for label, fn in _read_cases(path, col):
                rs = next((r for r in rules if set(dict(fn.items())) <= set(r.facts)), None)
                if rs is None:
                    col.add(fn.span, "case names facts no rule set declares", expected="facts of one rules folder")
                    continue
                facts = {}
                for fname, vnode in fn.items():
                    value = node_value(vnode)
                    problem = fact_value_problem(rs, fname, value, fn.key_spans[fname], vnode.span, "case")
                    if problem is not None:
                        col.append(problem)
                    facts[fname] = value
                grouped.setdefault(id(rs), []).append(Account(label, facts, origin=f"{path}:{fn.span.line}"))
        if col:
            raise InvalidInput(list(col))
        for rs in rules:
            if id(rs) in grouped:
                with Evaluator(rs, trace="none") as ev:
                    for d in ev.evaluate_many(grouped[id(rs)]):
                        self.add(rs, d)

    def result(self, threshold: float | None = None) -> Coverage:
        """The coverage so far, rule sets in the order they were first used."""
        return Coverage(tuple(t.result() for t in self._tallies.values()), threshold)


def _case_files(paths: Sequence[str | Path]) -> Iterable[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(p.rglob("*.yaml"))
        elif p.exists():
            yield p
        else:
            raise InvalidInput([Problem(Span(str(p)), "case file or folder not found", expected="a YAML file")])


def _read_cases(path: Path, col: Problems) -> Iterable[tuple[str, YNode]]:
    """(name, facts node) for each case of one file."""
    root = read_yaml(path)
    body = root.get("cases") if root.kind == "map" else None
    if body is None or body.kind != "seq":
        col.add(root.span, "not a case file", expected="a 'cases:' list of {name, facts, expect}")
        return
    for node in body.value:
        fn = node.get("facts") if node.kind == "map" else None
        if fn is None or fn.kind != "map":
            col.add(node.span, "a case without facts", expected="'facts:' a mapping of fact to value")
            continue
        name = node.get("name")
        yield (str(name.value) if name is not None else f"line {node.span.line}"), fn
