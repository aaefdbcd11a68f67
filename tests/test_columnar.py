"""The columnar rule plan equals durable_rules and the reference evaluator, on random rule sets and portfolios."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_property import accounts as shipped_accounts

from kamrules import Evaluator, load_ruleset
from kamrules.engine.columnar import RulePlan, account_frame, by_column, rule_column
from kamrules.engine.reference import reference_fired
from kamrules.kam.engines import CrossCheckError, PortfolioRules, difference
from kamrules.lang import load_ruleset_texts
from kamrules.lang.model import ALL_STAGES, Account

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 9, 30)
NUMS = [-2, -1, 0, 0.5, 1, 2, 3.5, 10]
INTS = [-3, -1, 0, 1, 2, 5, 12]
DATES = [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 6, 30), AS_OF]
ENUM = ["x", "y", "z"]

GIVEN = {
    "n1": {"type": "number", "range": [-1000, 1000]},
    "n2": {"type": "number", "range": [-1000, 1000]},
    "i1": {"type": "integer", "range": [-100, 100]},
    "b1": {"type": "boolean"},
    "e1": {"type": "enum", "values": ENUM},
    "d1": {"type": "date"},
    "d2": {"type": "date"},
    "stage": {"type": "enum", "values": list(ALL_STAGES)},
}
COMPUTED = {
    "c_ratio": {"type": "number", "range": [-50, 50], "computed": "n1 / n2"},
    "c_months": {"type": "integer", "unit": "months", "range": [-2, 6], "computed": "months_between(d1, as_of)"},
    "c_days": {"type": "integer", "unit": "days", "range": [-100000, 100000], "computed": "days_between(d1, d2)"},
    "c_round": {"type": "number", "range": [-1, 1], "computed": "round(n1 * 0.15, 1)"},
    # reads a derived fact: computed again before every stratum
    "c_pick": {"type": "number", "range": [-1000, 1000], "computed": "if(b1 == true, n1 - k0, max(n2, 0))"},
}
# Derived facts by level: a rule deriving a level-L fact reads only facts of lower levels (so strata 0, 1, 2).
LEVELS = [["k0", "k1"], ["k2"], ["k3"]]
DERIVED = {"k0": "number", "k1": "enum", "k2": "boolean", "k3": "enum"}
TYPES = {**{n: f["type"] for n, f in GIVEN.items()}, **{n: f["type"] for n, f in COMPUTED.items()}, **DERIVED}
READABLE = [  # what a rule of each level may read
    [*GIVEN, "c_ratio", "c_months", "c_days", "c_round"],
    [*GIVEN, *COMPUTED, "k0", "k1"],
    [*GIVEN, *COMPUTED, "k0", "k1", "k2"],
    [*GIVEN, *COMPUTED, *DERIVED],
]
ORDERED = ("number", "integer", "date")


RANGES = {n: f["range"] for n, f in [*GIVEN.items(), *COMPUTED.items()] if "range" in f}


def _values(t: str, fact: str | None = None):
    lo, hi = RANGES.get(fact, [-1e9, 1e9])
    if t in ("number", "integer"):
        return st.sampled_from([v for v in (NUMS if t == "number" else INTS) if lo <= v <= hi])
    return {
        "number": st.sampled_from(NUMS),
        "integer": st.sampled_from(INTS),
        "boolean": st.booleans(),
        "enum": st.sampled_from(ENUM),
        "date": st.sampled_from(DATES),
    }[t]


@st.composite
def leaves(draw, readable):
    """A comparison valid for its fact's type: every operator, constants, value_of with times and plus."""
    fact = draw(st.sampled_from(readable))
    t = "stage" if fact == "stage" else TYPES[fact]
    if t == "stage":
        op = draw(st.sampled_from(["eq", "ne", "in", "not_in", "exists", "missing"]))
        vals = st.sampled_from(list(ALL_STAGES))
    else:
        ops = ["eq", "ne", "exists", "missing"] + (["in", "not_in"] if t != "boolean" else [])
        ops += ["lt", "lte", "gt", "gte", "between"] if t in ORDERED else []
        op = draw(st.sampled_from(ops))
        vals = _values(t, fact)
    leaf: dict = {"fact": fact, "op": op}
    if op in ("exists", "missing"):
        return leaf
    if op in ("in", "not_in"):
        leaf["value"] = draw(st.lists(vals, min_size=1, max_size=3, unique=True))
    elif op == "between":
        a, b = draw(vals), draw(vals)
        leaf["value"] = [min(a, b), max(a, b)]
    elif t in ORDERED and draw(st.booleans()):
        others = [f for f in readable if f != fact and TYPES.get(f) in ((t,) if t == "date" else ("number", "integer"))]
        if not others:
            leaf["value"] = draw(vals)
            return leaf
        leaf["value_of"] = draw(st.sampled_from(others))
        if t == "number" and draw(st.booleans()):
            leaf["times"] = draw(st.sampled_from([0.5, 2, -1, 1.5]))
        if draw(st.booleans()):
            whole = t in ("integer", "date") or TYPES[leaf["value_of"]] == "integer"
            leaf["plus"] = draw(st.sampled_from([0, 1, -2] if whole else [0, 1, -0.5]))
    else:
        leaf["value"] = draw(vals)
    return leaf


def conditions(readable):
    """Random all/any/not trees over valid comparisons."""
    return st.recursive(
        leaves(readable),
        lambda kids: st.one_of(
            st.lists(kids, min_size=1, max_size=3).map(lambda c: {"all": c}),
            st.lists(kids, min_size=1, max_size=3).map(lambda c: {"any": c}),
            kids.map(lambda c: {"not": c}),
        ),
        max_leaves=6,
    )


@st.composite
def rule_sets(draw):
    """A rule folder's texts: derived facts over three strata, priority ties, defaults, stages, actions."""
    rules = []
    for i in range(draw(st.integers(1, 9))):
        level = draw(st.sampled_from([0, 1, 2, 3]))
        then: dict = {}
        if level < 3:
            fact = draw(st.sampled_from(LEVELS[level]))
            then["derive"] = {fact: draw(_values(DERIVED[fact]))}
        rec = draw(st.sets(st.sampled_from(["stage", "structure", "actions"]), max_size=2))
        recommend: dict = {}
        if "stage" in rec:
            recommend["stage"] = draw(st.sampled_from(list(ALL_STAGES)))
        if "structure" in rec:
            recommend["structure"] = draw(st.sampled_from(["base", "advanced"]))
        if "actions" in rec:
            ids = draw(st.lists(st.sampled_from(["p", "q", "s"]), min_size=1, max_size=2, unique=True))
            recommend["actions"] = [{"id": a, "text": f"Do {a}."} for a in ids]
        if recommend or not then:
            then["recommend"] = recommend or {"actions": [{"id": "p", "text": "Do p."}]}
        rid = f"r{draw(st.integers(0, 99)):02d}-{i}"  # ids in no particular order against the priorities
        when = draw(conditions(READABLE[level]))
        rules.append({"id": rid, "description": "random", "priority": draw(st.sampled_from([0, 100, 100, 200])),
                      "when": when, "then": then})  # fmt: skip
    facts = {n: {**f, "description": n, "source": "given"} for n, f in GIVEN.items()}
    facts |= {n: {**f, "description": n, "source": "computed"} for n, f in COMPUTED.items()}
    for n, t in DERIVED.items():
        facts[n] = {"type": t, "description": n, "source": "derived"} | ({"values": ENUM} if t == "enum" else {})
        if t == "number":
            facts[n]["range"] = [-1000, 1000]
        if draw(st.booleans()):
            facts[n]["default"] = draw(_values(t))
    texts = [("facts.yaml", _dump({"facts": facts})), ("r.yaml", _dump({"rules": rules}))]
    return load_ruleset_texts(texts, "random")


class _NoAliases(yaml.SafeDumper):
    """Every value written out where it is used (the loader refuses YAML anchors)."""

    def ignore_aliases(self, data):
        return True


def _dump(doc) -> str:
    return yaml.dump(doc, Dumper=_NoAliases)


def portfolio():
    """Random accounts: each given fact present or missing (n2 often zero: division by zero)."""
    optional = {n: _values(f["type"]) for n, f in GIVEN.items() if n != "stage"}
    optional["stage"] = st.sampled_from(list(ALL_STAGES))
    rows = st.fixed_dictionaries({}, optional=optional)
    return st.lists(rows, min_size=1, max_size=6).map(lambda b: [Account(f"A{i}", f) for i, f in enumerate(b)])


def assert_all_agree(ruleset, accounts, as_of=AS_OF):
    """Plan == durable_rules == reference on every account: firings, derived facts, the whole decision."""
    plan = RulePlan(ruleset, as_of)
    frame = account_frame(ruleset, accounts)
    firings = plan.firings(frame)
    with Evaluator(ruleset, as_of=as_of) as ev:
        durable = ev.evaluate_many(accounts)
        from_plan = ev.evaluate_many(accounts, firings=firings)
    out = plan.outcome(frame).collect()
    for a, d, p, f, row in zip(accounts, durable, from_plan, firings, out.iter_rows(named=True), strict=True):
        fired, derived = reference_fired(ruleset, a.facts, as_of)
        assert f == d.fired, a.facts
        assert set(f) == fired
        assert d.derived == derived
        assert p.to_dict() == d.to_dict()
        assert row["fired"] == d.fired
        assert (row["stage_rule"], row["stage_current"], row["stage_recommended"], row["move"]) == (
            d.stage_rule, d.stage_current, d.stage_recommended, d.move,
        )  # fmt: skip
        assert (row["structure"], row["structure_rule"]) == (d.structure, d.structure_rule)
        assert row["actions"] == [x["id"] for x in d.actions]
        got = {n: row[n] for n in ruleset.facts if ruleset.facts[n].derived and row[by_column(n)] is not None}
        assert got == d.derived
        assert {n: row[by_column(n)] for n in got} == d.derived_by


@settings(max_examples=800, deadline=None, suppress_health_check=list(HealthCheck))
@given(rule_sets(), portfolio())
def test_plan_equals_durable_and_reference_on_random_rule_sets(ruleset, accounts):
    """Random rules (every operator, value_of × times + plus, three strata, ties, defaults, computed facts)."""
    assert ruleset.strata >= 1
    assert_all_agree(ruleset, accounts)


SHIPPED = load_ruleset(ROOT / "rules")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(shipped_accounts(SHIPPED), min_size=1, max_size=6))
def test_plan_equals_durable_on_shipped_rules(batch):
    """The shipped rules on random accounts (values at and around every threshold) decide alike in both engines."""
    assert_all_agree(SHIPPED, [Account(f"A{i}", f) for i, f in enumerate(batch)])


def test_example_portfolio_decides_alike():
    """The shipped rules on examples/portfolio.csv: every decision of the review is the same in both engines."""
    from kamrules.inputs import read_review_input
    from kamrules.kam import load_settings, load_structure_rules
    from kamrules.kam.review import review

    rows, before, _ = read_review_input(str(ROOT / "examples/portfolio.csv"), False, None, None, None, AS_OF)
    args = (SHIPPED, load_settings(ROOT / "rules"), before, None, None, load_structure_rules(ROOT / "rules"), AS_OF)
    col = review(rows, *args, engine="columnar", cross_check=0)
    dur = review(rows, *args, engine="durable")
    assert [a.to_dict() for a in col.accounts] == [a.to_dict() for a in dur.accounts]
    assert col.selection == dur.selection and col.portfolio_facts == dur.portfolio_facts


def test_cross_check_names_the_first_differing_account(monkeypatch):
    """A planted difference in the plan's firings stops the run with exit 4, naming the account and what differed."""
    accounts = [Account("good", {"n1": 1.0}), Account("bad", {"n1": 2.0})]
    rs = load_ruleset_texts(
        [
            ("facts.yaml", _dump({"facts": {"n1": {"type": "number", "range": [0, 10], "description": "n",
                                                   "source": "given"}}})),
            ("r.yaml", "rules:\n  - {id: big, description: d, when: {fact: n1, op: gt, value: 1.5}, "
                       "then: {recommend: {actions: [{id: a, text: A.}]}}}\n"),
        ],
        "planted",
    )  # fmt: skip
    real = RulePlan.firings
    monkeypatch.setattr(RulePlan, "firings", lambda self, frame: [[] for _ in real(self, frame)])  # fires nothing
    with PortfolioRules(rs, AS_OF) as rules, pytest.raises(CrossCheckError) as e:
        rules.evaluate_many(accounts)
    assert e.value.exit_code == 4
    assert "account 'bad'" in str(e.value) and "only durable_rules ['big']" in str(e.value)


def test_difference_says_what_differs():
    """Two decisions' JSON forms: None when equal, else the first part that differs."""
    assert difference({"fired": ["a"], "move": "hold"}, {"fired": ["a"], "move": "hold"}) is None
    assert difference({"fired": ["a"], "move": "hold"}, {"fired": ["a"], "move": "advance"}) == (
        "move: columnar 'hold', durable_rules 'advance'"
    )


def test_sample_is_seeded_and_bounded():
    """The cross-check sample is the same on every run, of the size asked, and all accounts when fewer."""
    accounts = [Account(f"A{i}", {}) for i in range(50)]
    a, b = PortfolioRules(SHIPPED, AS_OF, cross_check=10), PortfolioRules(SHIPPED, AS_OF, cross_check=10)
    a.sampling(accounts)
    b.sampling(accounts)
    assert a._sample == b._sample and len(a._sample) == 10
    c = PortfolioRules(SHIPPED, AS_OF, cross_check=1000)
    c.sampling(accounts)
    assert c._sample == {x.id for x in accounts}
    for r in (a, b, c):
        r.close()


def test_account_frame_types_every_fact():
    """The account frame has one typed column per declared fact, null where the account lacks it."""
    frame = account_frame(SHIPPED, [Account("a", {"revenue": 5, "stage": "mid-KAM"})])
    assert frame.width == len(SHIPPED.facts)
    assert frame.schema["revenue"] == pl.Float64 and frame["revenue"].to_list() == [5.0]
    assert frame["stage"].to_list() == ["mid-KAM"] and frame["trust_score"].to_list() == [None]


def test_evaluator_from_firings_needs_no_engine():
    """Decisions built from given firings never compile the rules into durable_rules."""
    ev = Evaluator(SHIPPED, as_of=AS_OF)
    ev.evaluate_many([Account("a", {})], firings=[[]])
    assert ev._engine is None
    ev.close()


def _cli(args):
    from click.testing import CliRunner

    from kamrules.cli import main

    return CliRunner().invoke(main, args)


RUN_ID = re.compile(r"\b[0-9a-f]{12}\b")  # the random run id; the rules version (64 hex digits) is kept


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown", "html"])
def test_engines_write_identical_outputs(fmt):
    """`kamrules portfolio --engine durable` and `--engine columnar` write the same bytes (run id normalised)."""
    out = {}
    for engine in ("durable", "columnar"):
        r = _cli(["portfolio", str(ROOT / "examples/portfolio.csv"), "--rules", str(ROOT / "rules"),
                  "--format", fmt, "--engine", engine, "--no-audit", "--quiet", "--as-of", "2026-09-30"])  # fmt: skip
        assert r.exit_code == 0, r.output[-2000:]
        out[engine] = RUN_ID.sub("RUN", r.stdout)
    assert out["durable"] == out["columnar"]


def test_cli_cross_check_exits_4_on_a_planted_difference(monkeypatch):
    """A plan that disagrees with durable_rules stops `kamrules portfolio` with exit 4, naming the account."""
    real = RulePlan.firings

    def planted(self, frame):
        firings = real(self, frame)
        return [[r for r in f if not r.startswith("quadrant-")] for f in firings]

    monkeypatch.setattr(RulePlan, "firings", planted)
    # JSON with --traces is written account by account: the plan's firings are what it checks
    args = ["portfolio", str(ROOT / "examples/portfolio.csv"), "--rules", str(ROOT / "rules"), "--no-audit", "--quiet"]
    r = _cli([*args, "--format", "json", "--traces"])
    assert r.exit_code == 4, r.output[-2000:]
    assert "decided account '" in r.output and "only durable_rules ['quadrant-" in r.output
    assert _cli([*args, "--format", "json", "--traces", "--cross-check", "0"]).exit_code == 0  # unchecked: goes through


def fired_again(rules):
    """The `fired` column made anew from the rule columns (after a test changed some), in the order given."""
    held = [pl.when(pl.col(rule_column(r.id))).then(pl.lit(r.id)) for r in rules]
    return pl.concat_list(held).list.drop_nulls().alias("fired")


def test_cli_cross_check_of_the_review_on_columns_exits_4(monkeypatch):
    """The review on columns checks its sample too: a rule the plan drops stops it with exit 4."""
    real = RulePlan.outcome

    def planted(self, frame):
        dropped = [pl.lit(False).alias(rule_column(r.id)) for r in self.ruleset.rules if r.id.startswith("quadrant-")]
        return real(self, frame).with_columns(*dropped).with_columns(fired_again(self.ordered))

    monkeypatch.setattr(RulePlan, "outcome", planted)
    args = ["portfolio", str(ROOT / "examples/portfolio.csv"), "--rules", str(ROOT / "rules"), "--no-audit", "--quiet"]
    r = _cli(args)
    assert r.exit_code == 4, r.output[-2000:]
    assert "decided account '" in r.output and "fired:" in r.output
    assert _cli([*args, "--cross-check", "0"]).exit_code == 0


def test_cdnow_quarter_decides_alike(tmp_path):
    """The shipped rules on the CDNOW acceptance data (one quarter against the previous): identical in both engines."""
    from test_acceptance_cdnow import cdnow_invoice_csv

    path = cdnow_invoice_csv(tmp_path / "cdnow.csv")
    out = {}
    for engine in ("durable", "columnar"):
        r = _cli(["portfolio", str(path), "--transactions", "--period", "1997Q2", "--previous", "1997Q1",
                  "--rules", str(ROOT / "rules"), "--format", "csv", "--engine", engine,
                  "--no-audit", "--quiet"])  # fmt: skip
        assert r.exit_code == 0, r.output[-2000:]
        out[engine] = RUN_ID.sub("RUN", r.stdout)
    assert out["durable"] == out["columnar"]


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(rule_sets(), portfolio())
def test_compact_decision_frame_equals_the_durable_decisions(ruleset, accounts):
    """kam/scale.decision_frame (columns all the way) equals the frame contract's converter of durable decisions."""
    from kamrules.audit.frames import compact_frame
    from kamrules.kam.scale import decision_frame

    frame = account_frame(ruleset, accounts).with_columns(
        pl.Series("account", [a.id for a in accounts]), pl.Series("name", [f"N{a.id}" for a in accounts])
    )
    got = decision_frame(ruleset, frame, AS_OF, cross_check=len(accounts))
    with Evaluator(ruleset, as_of=AS_OF) as ev:
        want = compact_frame(ev.evaluate_many([replace(a, name=f"N{a.id}") for a in accounts]), ruleset)
    assert got.columns == want.columns
    assert got.equals(want), (got.to_dicts(), want.to_dicts())


def test_compact_frame_cross_check_catches_a_planted_difference(monkeypatch):
    """A plan that fires nothing is caught by the columnar review's durable_rules sample (exit 4)."""
    from kamrules.engine import columnar
    from kamrules.kam.scale import decision_frame

    accounts = [Account("A1", {"revenue": 5_000_000.0, "stage": "mid-KAM", "trust_score": 9.0})]
    frame = account_frame(SHIPPED, accounts).with_columns(pl.Series("account", ["A1"]))
    monkeypatch.setattr(columnar, "condition_expr", lambda cond, facts: pl.lit(False))
    with pytest.raises(CrossCheckError) as e:
        decision_frame(SHIPPED, frame, AS_OF)
    assert e.value.exit_code == 4 and "account 'A1'" in str(e.value)


def test_compact_frame_types_columns_as_the_engine_compares():
    """An integral number column (read as Int64) is a number fact: Float64 in the frame, the same decision."""
    from kamrules.kam.scale import decision_frame

    frame = pl.DataFrame({"account": ["A1"], "revenue": [5_000_000], "stage": ["mid-KAM"]})
    got = decision_frame(SHIPPED, frame, AS_OF)
    assert got.schema["given"].to_schema()["revenue"] == pl.Float64
    assert got["given"].struct.field("revenue").to_list() == [5_000_000.0]


def test_account_frame_refuses_a_value_its_column_cannot_hold():
    """A value of the wrong type is an internal error (exit 4), never a silent missing fact."""
    from kamrules.errors import EngineError

    with pytest.raises(EngineError) as e:
        account_frame(SHIPPED, [Account("a", {"revenue": "lots"})])
    assert e.value.exit_code == 4 and "revenue" in str(e.value)


def test_compact_decision_frame_of_no_accounts_is_empty_with_every_column():
    """No rows (an empty batch): an empty frame of the columns and types a frame of decisions has."""
    from kamrules.audit.frames import compact_frame
    from kamrules.kam.scale import decision_frame

    got = decision_frame(SHIPPED, account_frame(SHIPPED, []).with_columns(pl.Series("account", [], pl.String)), AS_OF)
    want = compact_frame([], SHIPPED)
    assert got.height == 0 and got.schema == want.schema
