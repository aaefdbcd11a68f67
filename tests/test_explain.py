"""Explanations: why, why not, and what-it-would-take proposals that really reach the next move."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kamrules import load_account
from kamrules.cli import main
from kamrules.engine.explain import explain
from kamrules.engine.proposals import EPSILON, REMOVE, _values
from kamrules.lang.model import Fact, Leaf

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
ACCOUNTS = ROOT / "examples" / "accounts"
VENETA = ACCOUNTS / "distribuzione-alimentare-veneta.yaml"  # early-KAM, holds: trust 5.5, 2 contact pairs
FRIULANI = ACCOUNTS / "elettrodomestici-friulani.yaml"  # key-account designation withdrawn


def cli(*args: str):
    """Run the CLI without touching any decision log."""
    return CliRunner().invoke(main, list(args), env={"KAMRULES_AUDIT_DB": "/nonexistent/never-used.sqlite"})


def explained(path: Path) -> dict:
    r = cli("explain", "--rules", str(RULES), "--format", "json", str(path))
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def apply(path: Path, proposal: dict, out: Path) -> Path:
    """The account file with a proposal's changes written in."""
    data = yaml.safe_load(path.read_text())
    for ch in proposal["changes"]:
        if ch["to"] == REMOVE:
            data["facts"].pop(ch["fact"], None)
        else:
            data["facts"][ch["fact"]] = ch["to"]
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def evaluated(path: Path) -> dict:
    r = cli("evaluate", "--no-audit", "--rules", str(RULES), "--format", "json", str(path))
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_explain_text_has_why_why_not_and_what_it_would_take():
    """The table output of a shipped example has the three parts with rule descriptions and observed values."""
    r = cli("explain", "--rules", str(RULES), str(VENETA))
    assert r.exit_code == 0, r.output
    out = r.output
    assert "Why\n" in out and "Why not\n" in out and "What it would take\n" in out
    assert "key account = yes  by key-account-selected" in out
    assert "ranked by the selection score within the capacity" in out  # the rule's description, in words
    assert "✗ trust_score ≥ 6: observed 5.5, short by 0.5" in out
    assert "to reach stage mid-KAM:" in out


def test_why_is_a_chain_from_given_to_recommendation():
    """Why lists the given facts used, the derived facts with their rules, and the stage decision."""
    why = explained(VENETA)["why"]
    assert why["given"]["abc_revenue"] == "A"
    derived = {x["fact"]: x for x in why["derived"]}
    assert derived["key_account"]["because"]["rule"] == "key-account-selected"
    assert derived["eligible"]["because"]["rule"].startswith("eligible-by-")
    assert why["stage"]["move"] == "hold" and why["stage"]["because"] is None


def test_why_not_names_failed_comparisons_with_gaps():
    """Why-not reports the transition out of the current stage with observed vs threshold and the gap."""
    misses = {m["rule"]: m for m in explained(VENETA)["why_not"]}
    failed = {f["fact"]: f for f in misses["early-to-mid"]["failed"]}
    assert failed["trust_score"]["value"] == 6 and failed["trust_score"]["observed"] == 5.5
    assert failed["trust_score"]["gap"] == 0.5
    assert failed["contact_pairs"]["gap"] == 1
    assert "executive_sponsor" in failed


@pytest.mark.parametrize("account", sorted(ACCOUNTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_proposal_really_reaches_its_goal(account, tmp_path):
    """Each proposal, written into the account file and evaluated by the CLI, produces its goal."""
    e = explained(account)
    for i, p in enumerate(e["what_it_would_take"]):
        d = evaluated(apply(account, p, tmp_path / f"{i}.yaml"))
        if p["goal"] == "key account":
            assert d["key_account"] is True
        else:
            assert d["stage"]["recommended"] == p["goal"].removeprefix("stage ")


def test_shipped_example_has_a_next_stage_proposal(tmp_path):
    """On a shipped early-KAM example the smallest proposals reach mid-KAM with three changes, loyal buyer included."""
    e = explained(VENETA)
    stage = [p for p in e["what_it_would_take"] if p["goal"] == "stage mid-KAM"]
    assert stage, e["what_it_would_take"]
    assert {c["fact"]: c["to"] for c in stage[0]["changes"]} == {
        "buyer_open_to_competitors": False,
        "contact_pairs": 3,
        "trust_score": 6,
    }
    assert evaluated(apply(VENETA, stage[0], tmp_path / "a.yaml"))["stage"]["recommended"] == "mid-KAM"


def test_proposals_change_given_facts_only_and_are_ranked():
    """Proposals never set a derived fact, are ranked by how many facts they change, and none is a superset."""
    e = explained(FRIULANI)
    props = e["what_it_would_take"]
    assert any(p["goal"] == "key account" for p in props)
    for p in props:
        assert not {c["fact"] for c in p["changes"]} & {"key_account", "contact_model", "selection_quadrant"}
    for goal in {p["goal"] for p in props}:
        sizes = [len(p["changes"]) for p in props if p["goal"] == goal]
        assert sizes == sorted(sizes)
        sets = [frozenset(c["fact"] for c in p["changes"]) for p in props if p["goal"] == goal]
        assert not any(a < b for a in sets for b in sets)
    key = [p for p in props if p["goal"] == "key account"]
    assert len(key[0]["changes"]) == 1  # lifting the withdrawal is one change


def test_strict_comparisons_take_the_smallest_satisfying_step():
    """gt/lt move integers by 1 and numbers by 0.01 (two decimals); booleans flip; enums move to the nearest value."""
    integer = Fact("n", "integer", "", "given", range=(0, 100))
    number = Fact("x", "number", "", "given", range=(0.0, 10.0))
    enum = Fact("e", "enum", "", "given", values=("none", "limited", "tailored", "co-developed"))
    boolean = Fact("b", "boolean", "", "given")
    assert _values(Leaf("n", "gt", 3), True, integer, {"n": 1}) == [4]
    assert _values(Leaf("x", "gt", 6), True, number, {"x": 1.0}) == [6 + EPSILON]
    assert _values(Leaf("x", "lt", 0.335), True, number, {"x": 1.0}) == [0.33]
    assert _values(Leaf("x", "gte", 6), False, number, {"x": 7.0}) == [5.99]
    assert _values(Leaf("b", "eq", True), False, boolean, {"b": True}) == [False]
    assert _values(Leaf("e", "in", ["tailored", "co-developed"]), True, enum, {"e": "limited"}) == ["tailored"]
    assert _values(Leaf("x", "gt", 10.0), True, number, {"x": 1.0}) == []  # beyond the fact's range


def test_explain_library_call_matches_cli(ruleset, evaluator):
    """The library explain() on the account prepared as evaluate prepares it gives the same proposals as the CLI."""
    from kamrules.kam import context, load_settings

    prepared = context.prepare(evaluator, [load_account(VENETA, ruleset)], load_settings(RULES))[0][0]
    e = explain(evaluator, prepared)
    assert [p.to_dict() for p in e.proposals] == explained(VENETA)["what_it_would_take"]


def test_explain_bad_account_is_invalid_input(tmp_path):
    """A broken account file is exit 3 with file:line, not a traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("account: X\nfacts:\n  trust_scor: 5\n")
    r = cli("explain", "--rules", str(RULES), str(bad))
    assert r.exit_code == 3 and "bad.yaml:3:3" in r.output and "Traceback" not in r.output
