"""durable_rules' hidden limits (found by experiment) are worked around: the engine equals the reference."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kamrules import Evaluator, load_ruleset
from kamrules.cli.app import main
from kamrules.engine.compiler import FIRINGS_PER_SHARD, MAX_TERMS, shards
from kamrules.engine.reference import reference_fired
from kamrules.lang.model import Account

FACTS = """\
facts:
  x: {type: number, range: [-1.0e9, 1.0e9], description: x, source: given}
  y: {type: number, range: [-1.0e9, 1.0e9], description: y, source: given}
"""


def write_rules(tmp_path, rules: list[str]):
    d = tmp_path / "rules"
    d.mkdir()
    (d / "facts.yaml").write_text(FACTS)
    (d / "rules.yaml").write_text("rules:\n" + "".join(rules))
    return d


def rule(i: int, when: str) -> str:
    then = f"{{recommend: {{actions: [{{id: a{i}, text: A.}}]}}}}"
    return f"  - id: r{i}\n    description: rule {i}\n    when: {when}\n    then: {then}\n"


def cmp(fact: str, op: str, value: int) -> str:
    return f"{{fact: {fact}, op: {op}, value: {value}}}"


def same_as_reference(rules_dir, accounts: list[dict]) -> list[set[str]]:
    rs = load_ruleset(rules_dir)
    with Evaluator(rs, trace="none") as ev:
        decisions = ev.evaluate_many([Account(str(i), f) for i, f in enumerate(accounts)])
    fired = [set(d.fired) for d in decisions]
    assert fired == [reference_fired(rs, f)[0] for f in accounts]
    return fired


def test_any_of_many_comparisons_that_all_hold(tmp_path):
    """An `any` of 200 comparisons that all hold fires its rule (durable_rules alone fails past 64: error 303)."""
    when = "{any: [" + ", ".join(cmp("x", "gt", -i) for i in range(200)) + "]}"
    d = write_rules(tmp_path, [rule(0, when)])
    assert same_as_reference(d, [{"x": 5}, {"x": -100}, {"x": -1000}]) == [{"r0"}, {"r0"}, set()]


def test_more_rules_holding_than_one_ruleset_can_fire(tmp_path):
    """150 rules that all hold on one account all fire (one durable_rules ruleset fires at most 64 per fact)."""
    d = write_rules(tmp_path, [rule(i, cmp("x", "gt", -i)) for i in range(150)])
    assert len(shards(load_ruleset(d))) == -(-150 // FIRINGS_PER_SHARD)
    fired = same_as_reference(d, [{"x": 1}, {"x": -75}])
    assert len(fired[0]) == 150 and len(fired[1]) == 74  # x > -i for i = 76 … 149


def test_not_over_all_of_many_comparisons(tmp_path):
    """`not` over an `all` of 20 comparisons compiles and runs (as a $or of $or durable_rules refuses it: 113)."""
    when = "{not: {all: [" + ", ".join(cmp("x" if i % 2 else "y", "lt", 100 + i) for i in range(20)) + "]}}"
    d = write_rules(tmp_path, [rule(0, when)])
    assert same_as_reference(d, [{"x": 0, "y": 0}, {"x": 200, "y": 0}, {"x": 0}, {}]) == [set(), {"r0"}, {"r0"}, {"r0"}]


def test_more_rules_than_one_ruleset_holds(tmp_path):
    """4,100 rules load and run (one durable_rules ruleset holds at most 4,096: error 106)."""
    d = write_rules(tmp_path, [rule(i, cmp("x", "eq", i)) for i in range(4100)])
    assert same_as_reference(d, [{"x": 0}, {"x": 4099}, {"x": 4100}]) == [{"r0"}, {"r4099"}, set()]


def test_rules_check_names_the_one_limit_left(tmp_path):
    """An `all` of 13 two-way `any` (8,192 ways to hold) is refused by `rules check` with its position and the limit."""
    when = "{all: [" + ", ".join(f"{{any: [{cmp('x', 'gt', i)}, {cmp('y', 'gt', i)}]}}" for i in range(13)) + "]}"
    d = write_rules(tmp_path, [rule(0, cmp("x", "gt", 0)), rule(1, when)])
    result = CliRunner().invoke(main, ["rules", "check", str(d), "--format", "json"])
    assert result.exit_code == 3, result.output
    (problem,) = json.loads(result.output)["problems"]
    assert problem["file"].endswith("rules.yaml") and problem["line"] == 6
    assert problem["code"] == "engine-limit" and problem["expected"].startswith(f"at most {MAX_TERMS:,}")
    assert problem["found"] == "8,192"
