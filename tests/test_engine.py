"""durable_rules' sharp edges, each met by kamrules.engine, and isolation between accounts and rule sets."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from kamrules import Evaluator, InvalidInput, load_account, load_ruleset
from kamrules.engine.durable import Engine, dumps
from kamrules.errors import EngineError
from kamrules.lang.model import Account

ROOT = Path(__file__).resolve().parent.parent

SMALL_FACTS = """\
facts:
  revenue: {type: number, range: [-1.0e12, 1.0e12], description: revenue, source: given}
  trust_score: {type: number, range: [0, 10], description: trust, source: given}
  last_review: {type: date, description: last review, source: given}
  stage:
    type: enum
    values: [pre-KAM, early-KAM, mid-KAM, partnership-KAM, synergistic-KAM, uncoupling-KAM]
    description: stage
    source: given
  big: {type: boolean, description: big customer, source: derived, default: false}
"""

SMALL_RULES = """\
rules:
  - id: big-customer
    description: revenue above the line makes a big customer
    when: {fact: revenue, op: gt, value: 1000}
    then: {derive: {big: true}}
  - id: either-branch
    description: fires when either branch holds
    when:
      any:
        - {fact: revenue, op: gt, value: 10}
        - {fact: trust_score, op: gte, value: 5}
    then: {recommend: {actions: [{id: look, text: Look at it.}]}}
  - id: old-review
    description: a review before 2026 is old
    when: {fact: last_review, op: lt, value: 2026-01-01}
    then: {recommend: {actions: [{id: review, text: Review it.}]}}
  - id: big-advances
    description: big customers advance
    when:
      all:
        - {fact: big, op: eq, value: true}
        - {fact: stage, op: eq, value: pre-KAM}
    then: {recommend: {stage: early-KAM}}
"""


def make_rules(tmp_path: Path, rules: str = SMALL_RULES, facts: str = SMALL_FACTS, name: str = "rules") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "facts.yaml").write_text(facts)
    (d / "rules.yaml").write_text(rules)
    return d


@pytest.fixture
def small(tmp_path):
    return load_ruleset(make_rules(tmp_path))


def test_no_matching_rule_is_not_an_error(small):
    """A fact no rule matches (MessageNotHandledException in durable_rules) gives an empty firing set."""
    with Engine(small) as eng:
        assert eng.fire([{"revenue": 1}], 0) == [set()]


def test_or_fires_once_when_both_branches_hold(small):
    """durable_rules fires a $or rule once per true branch; kamrules reports the rule once."""
    with Evaluator(small) as ev:
        d = ev.evaluate(Account("a", {"revenue": 50, "trust_score": 9}))
    assert d.fired.count("either-branch") == 1
    assert [a["id"] for a in d.actions].count("look") == 1


def test_more_accounts_than_live_session_limit(small):
    """Thousands of accounts pass through one engine although a ruleset holds at most 1,024 sessions."""
    with Evaluator(small) as ev:
        for i in range(3000):
            d = ev.evaluate(Account(str(i), {"revenue": float(i)}))
            assert ("either-branch" in d.fired) == (i > 10)
        assert ev.engine.live_facts() == []


def test_engine_survives_accounts_where_nothing_fired(tmp_path):
    """Closing an engine after facts no rule matched does not crash the process (delete_state would)."""
    rules_dir = make_rules(tmp_path)
    script = textwrap.dedent(f"""
        from kamrules import Evaluator, load_ruleset
        from kamrules.lang.model import Account
        rs = load_ruleset({str(rules_dir)!r})
        for round in range(3):
            with Evaluator(rs) as ev:
                for i in range(50):
                    ev.evaluate(Account(str(i), {{"revenue": 1}}))
        print("survived")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "survived"


def test_identical_facts_do_not_collide(small):
    """Two accounts with identical facts in one batch each get their own firings."""
    with Evaluator(small) as ev:
        a, b = ev.evaluate_many([Account("a", {"revenue": 50}), Account("b", {"revenue": 50})])
    assert a.fired == b.fired == ["either-branch"]


def test_fact_named_id_is_rejected(tmp_path):
    """A fact named 'id' would collide with durable_rules' fact identity, so the schema refuses it."""
    facts = SMALL_FACTS + "  id: {type: string, description: x, source: given}\n"
    with pytest.raises(InvalidInput) as e:
        load_ruleset(make_rules(tmp_path, facts=facts))
    assert "invalid fact name 'id'" in e.value.render()


def test_dates_are_compared_through_the_engine(small):
    """Date facts reach the engine (JSON has no dates) and compare correctly on both sides of a cut-off."""
    with Evaluator(small) as ev:
        old = ev.evaluate(Account("a", {"last_review": dt.date(2025, 12, 31)}))
        new = ev.evaluate(Account("b", {"last_review": dt.date(2026, 1, 1)}))
    assert old.fired == ["old-review"] and new.fired == []


def test_chaining_runs_in_strata(small):
    """A rule reading a derived fact sees the value settled in the earlier stratum."""
    with Evaluator(small) as ev:
        d = ev.evaluate(Account("a", {"revenue": 5000, "stage": "pre-KAM"}))
    assert d.derived == {"big": True}
    assert d.stage_recommended == "early-KAM" and d.move == "advance"
    assert d.reasons[-1].relied_on == (("big", True, "big-customer"),)


def test_errors_in_the_engine_surface(small):
    """A failure inside durable_rules becomes an EngineError instead of being swallowed."""
    with pytest.raises(EngineError):
        Engine(small, definition={"bad": {"all": [{"m": {"$nosuchop": {"x": 1}}}]}})
    eng = Engine(small)
    eng.close()
    with pytest.raises(EngineError):
        eng.fire([{"revenue": 1}], 0)


def test_no_host_threads_and_no_global_host(small):
    """Evaluating starts no timer threads and never imports durable.lang's process-wide host."""
    before = threading.active_count()
    with Evaluator(small) as ev:
        ev.evaluate(Account("a", {"revenue": 5000}))
    assert threading.active_count() == before
    assert "durable.lang" not in sys.modules


def test_no_state_leaks_between_accounts(small):
    """An account's result is the same alone, after other accounts, and inside a batch."""
    probe = Account("p", {"revenue": 5, "stage": "pre-KAM"})
    with Evaluator(small) as ev:
        alone = ev.evaluate(probe).to_dict()
        ev.evaluate_many([Account(str(i), {"revenue": 5000, "stage": "pre-KAM"}) for i in range(20)])
        after = ev.evaluate(probe).to_dict()
        batched = ev.evaluate_many([Account("x", {"revenue": 5000}), probe])[1].to_dict()
    assert alone == after == batched
    assert alone["fired"] == []


def test_two_rule_sets_in_one_process(tmp_path):
    """Two rule sets with different thresholds, used interleaved, each give their own result."""
    low = load_ruleset(make_rules(tmp_path, name="low"))
    high = load_ruleset(make_rules(tmp_path, SMALL_RULES.replace("value: 1000", "value: 100000"), name="high"))
    acc = Account("a", {"revenue": 5000, "stage": "pre-KAM"})
    with Evaluator(low) as ev_low, Evaluator(high) as ev_high:
        for _ in range(3):
            assert ev_low.evaluate(acc).derived["big"] is True
            assert ev_high.evaluate(acc).derived["big"] is False
    assert low.version != high.version


def test_default_rules_copy_has_same_version(tmp_path):
    """The rule set version is the content hash: a byte-identical copy elsewhere has the same version."""
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "rules", copy)
    assert load_ruleset(copy).version == load_ruleset(ROOT / "rules").version
    (copy / "stages.yaml").write_text((copy / "stages.yaml").read_text() + "\n")
    assert load_ruleset(copy).version != load_ruleset(ROOT / "rules").version


def test_tiny_and_huge_floats_are_read_correctly(small):
    """Floats Python writes with an exponent (1e-20, 1e+16) compare correctly instead of being misread."""
    with Evaluator(small) as ev:
        tiny = ev.evaluate(Account("a", {"revenue": 1e-20}))
        huge = ev.evaluate(Account("b", {"revenue": 1e16}))
        neg = ev.evaluate(Account("c", {"revenue": -5e-324}))
    assert tiny.fired == [] and neg.fired == []
    assert set(huge.fired) == {"big-customer", "either-branch"}


def test_compiled_rules_keep_a_point_before_every_exponent():
    """Thresholds Python writes with an exponent reach the engine as 1.0e-20; text that looks like one is kept."""
    assert dumps({"a": [1e-20, {"b": 2e30}], "t": "x,1e5"}) == '{"a":[1.0e-20,{"b":2.0e+30}],"t":"x,1e5"}'
    assert (dumps(1e16), dumps([0.5, "é", None, True])) == ("1.0e+16", '[0.5,"é",null,true]')
    with pytest.raises(EngineError, match="non-finite number inf"):
        dumps({"value": float("inf")})


def test_many_tiny_floats_in_one_batch(small):
    """A batch where every account has a float Python writes with an exponent is read right for each account."""
    accounts = [Account(str(i), {"revenue": (i + 1) * 1e-5, "trust_score": 9.0 if i % 2 else 1e-6}) for i in range(300)]
    with Evaluator(small) as ev:
        decisions = ev.evaluate_many(accounts)
    assert [("either-branch" in d.fired) for d in decisions] == [bool(i % 2) for i in range(300)]


def test_trace_levels_keep_the_decision_and_drop_provenance(ruleset, evaluator):
    """trace="fired" drops the comparisons, trace="none" also what rules relied on; the decision is the same."""
    account = load_account(ROOT / "examples" / "accounts" / "distribuzione-alimentare-veneta.yaml", ruleset)
    full = evaluator.evaluate(account)
    assert any(r.conditions for r in full.reasons) and any(r.relied_on for r in full.reasons)
    for level in ("fired", "none"):
        d = evaluator.evaluate(account, trace=level)
        assert (d.fired, d.derived, d.stage_recommended, d.actions) == (
            full.fired,
            full.derived,
            full.stage_recommended,
            full.actions,
        )
        assert all(r.conditions == () for r in d.reasons)
        relied_on = [r.relied_on for r in d.reasons]
        assert relied_on == ([()] * len(d.reasons) if level == "none" else [r.relied_on for r in full.reasons])
    with Evaluator(ruleset, trace="none") as ev:
        assert ev.evaluate(account).reasons[0].conditions == ()
    with pytest.raises(ValueError, match="trace must be one of"):
        Evaluator(ruleset, trace="some")
