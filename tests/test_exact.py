"""Explain's exact smallest change over controllable facts: minimal under the documented cost, checked by the engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules.cli import main
from kamrules.engine.explain import explain
from kamrules.errors import InvalidInput
from kamrules.lang import load_account, load_ruleset
from kamrules.lang.model import Account
from kamrules.lang.ops import REMOVE

ROOT = Path(__file__).resolve().parent.parent
KEY = {"abc_revenue": "A", "selection_rank": 1, "key_account_capacity": 24}
EARLY = {"stage": "early-KAM", **KEY, "trust_score": 7, "buyer_open_to_competitors": False}


def test_smallest_change_over_controllable_facts(evaluator):
    """early-KAM with trust but no customisation and one contact: two levers, the nearest values that reach mid-KAM."""
    account = Account("x", {**EARLY, "customisation": "none", "contact_pairs": 1, "executive_sponsor": False})
    e = explain(evaluator, account)
    (x,) = [x for x in e.exact if x.proposal.goal == "stage mid-KAM"]
    assert [(f, old, new) for f, old, new in x.proposal.changes] == [
        ("contact_pairs", 1, 3),
        ("customisation", "none", "limited"),
    ]
    assert x.facts_changed == 2
    # the engine, re-run on the changed facts, reaches the goal by the rule the proposal names
    changed = dict(account.facts) | {f: new for f, _, new in x.proposal.changes}
    d = evaluator.evaluate(Account("x", changed))
    assert d.stage_recommended == "mid-KAM" and d.stage_rule == x.proposal.rule == "early-to-mid"


def test_a_goal_out_of_the_levers_reach_says_so(evaluator):
    """Trust below mid-KAM's threshold is no lever: no exact change, and the text says the levers cannot do it."""
    e = explain(evaluator, Account("x", {**EARLY, "trust_score": 5, "customisation": "none", "contact_pairs": 1}))
    assert not [x for x in e.exact if x.proposal.goal == "stage mid-KAM"]
    assert "stage mid-KAM" in e.goals


EXAMPLES = sorted((ROOT / "examples" / "accounts").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_no_heuristic_proposal_over_controllable_facts_is_cheaper(path, ruleset, evaluator):
    """Every verified proposal that changes only controllable facts changes at least as many as the exact one."""
    e = explain(evaluator, load_account(path, ruleset))
    levers = set(e.levers)
    for goal in e.goals:
        exact = next((x for x in e.exact if x.proposal.goal == goal), None)
        for p in e.proposals:
            if p.goal == goal and {f for f, _, _ in p.changes} <= levers:
                assert exact is not None, f"{goal}: {p.changes} reaches it over controllable facts"
                assert exact.facts_changed <= len(p.changes)


def test_exact_changes_touch_controllable_facts_only(evaluator):
    """The exact change never moves trust, the stage or any other fact not marked controllable."""
    account = Account("y", {"stage": "mid-KAM", **KEY, "trust_score": 7.5, "customisation": "limited"})
    e = explain(evaluator, account)
    assert e.exact
    for x in e.exact:
        assert {f for f, _, _ in x.proposal.changes} <= set(e.levers)
        assert all(new != REMOVE for _, _, new in x.proposal.changes)


def test_without_controllable_facts_the_json_is_unchanged(tmp_path):
    """A rule set with no controllable fact keeps explain's JSON as it was: no `exact`, no `controllable`."""
    account = tmp_path / "a.yaml"
    account.write_text("account: a\nfacts: {stage: pre-KAM, abc_revenue: A, trust_score: 2}\n", encoding="utf-8")
    rules = ROOT / "tests/data/deep/gap"
    result = CliRunner().invoke(main, ["explain", str(account), "--rules", str(rules), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert "exact" not in doc and "controllable" not in doc
    assert (
        "smallest over controllable facts"
        not in CliRunner().invoke(main, ["explain", str(account), "--rules", str(rules)]).stdout
    )


def test_shipped_example_json_has_the_exact_section():
    """With the default rules, explain's JSON lists the controllable facts and an exact change per reachable goal."""
    path = ROOT / "examples/accounts/distribuzione-alimentare-veneta.yaml"
    doc = json.loads(CliRunner().invoke(main, ["explain", str(path), "--format", "json"]).stdout)
    assert "customisation" in doc["controllable"] and "trust_score" not in doc["controllable"]
    assert all({"facts_changed", "distance"} <= set(x["cost"]) for x in doc["exact"])


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("    controllable: maybe\n", "'controllable' of fact 'trust_score' must be true or false"),
        ("    controllable: true\n", "only a given fact can be controllable ('key_account' is derived)"),
    ],
)
def test_bad_controllable_declaration(tmp_path, declaration, message):
    """`controllable` takes true or false, and only on a given fact; otherwise the facts file is invalid."""
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "tests/data/deep/gap", folder)
    facts = (folder / "facts.yaml").read_text(encoding="utf-8")
    target = "    source: given\n" if "maybe" in declaration else "    source: derived\n"
    anchor = facts.index(target, facts.index("trust_score:" if "maybe" in declaration else "key_account:"))
    facts = facts[: anchor + len(target)] + declaration + facts[anchor + len(target) :]
    (folder / "facts.yaml").write_text(facts, encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        load_ruleset(folder)
    assert any(message in p.message for p in err.value.problems)
    assert all(p.span.line > 0 for p in err.value.problems)
