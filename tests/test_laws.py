"""The laws the default policy must satisfy (issue 9), as property tests through the public API.

* Monotonicity: improving a relationship-quality fact never lowers the recommended stage and never
  withdraws the designation.
* Invariance: shuffling rows, renaming ids and scaling every money value by 1,000 change no result.
* Capacity: designated key accounts never exceed the capacity, on any portfolio.
* Consistency: a regressing or uncoupling account gets no growth action; a non-key account gets no
  stage advance.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rule_constants import constants_of

from kamrules import Account, Evaluator, load_ruleset
from kamrules.errors import Span
from kamrules.inputs.tables import AccountRow
from kamrules.kam import Settings, load_settings
from kamrules.kam.review import review
from kamrules.kam.selection import SelectionSettings
from kamrules.lang import ALL_STAGES

ROOT = Path(__file__).resolve().parent.parent
RULESET = load_ruleset(ROOT / "rules")
SETTINGS = load_settings(ROOT / "rules")
# The laws hold on any review date; a fixed one keeps a failure reproducible.
EVALUATOR = Evaluator(RULESET, as_of=dt.date(2026, 9, 30))
LAWS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# uncoupling-KAM is the lowest place a relationship can be recommended to.
ORDER = {"uncoupling-KAM": -1, "pre-KAM": 0, "early-KAM": 1, "mid-KAM": 2, "partnership-KAM": 3, "synergistic-KAM": 4}
CUSTOMISATION = ["none", "limited", "tailored", "co-developed"]
GROWTH_ACTIONS = {
    "invest-in-relationship",
    "invest-to-build-position",
    "agree-development-plan",
    "co-develop-solutions",
    "share-forecasts-and-data",
    "strengthen-exit-barriers",
    "increase-customisation",
    "widen-contact-network",
    "involve-more-functions",
    "appoint-executive-sponsor",
    "run-alliance-governance",
}
RELATIONSHIP = [
    "trust_score",
    "contact_pairs",
    "functions_involved",
    "executive_sponsor",
    "joint_planning",
    "customisation",
    "shared_data",
    "strategic_alliance",
    "exclusivity",
    "share_of_wallet",
    "buyer_open_to_competitors",
]
# the facts an account of these laws may have; computed ones (selection_rank, capacity) included
FACTS = [
    *RELATIONSHIP,
    "stage",
    "abc_revenue",
    "abc_margin",
    "abc_volume",
    "abc_purchases",
    "potential_score",
    "potential_confidence",
    "selection_rank",
    "key_account_capacity",
    "revenue",
    "revenue_previous",
    "revenue_trend",
    "order_frequency_change",
    "days_since_last_order",
    "margin",
    "margin_erosion",
    "attractiveness",
    "relative_strength",
    "contract_years",
    "competitor_pressure",
    "breach_of_trust",
    "priorities_changed",
    "last_review",
    "review_interval_days",
]


CONSTANTS = constants_of(RULESET)


def value_of(name: str) -> st.SearchStrategy:
    """Values of one fact: its thresholds, their neighbours, its range ends and anything in range."""
    fact = RULESET.facts[name]
    if fact.type == "boolean":
        return st.booleans()
    if fact.type == "enum":
        return st.sampled_from(fact.values)
    if fact.type == "date":  # around the laws' review date, before and after it
        return st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 31))
    if name in ("revenue", "revenue_previous"):  # revenue_growth is computed from the two: both at a real scale
        return st.one_of(st.sampled_from([0.0, 1.0e6]), st.floats(-1.0e5, 1.0e7, allow_nan=False))
    near = sorted(CONSTANTS.get(name, set()), key=repr)
    lo, hi = fact.range
    if name == "selection_rank":
        hi = 60
    if name in ("key_account_capacity", "review_interval_days", "days_since_last_order"):
        hi = 500
    if fact.type == "integer":
        edges = [v for c in near for v in (int(c) - 1, int(c), int(c) + 1) if lo <= v <= hi] + [int(lo), int(hi)]
        return st.one_of(st.sampled_from(edges), st.integers(int(lo), int(hi)))
    hi = min(hi, 10.0) if name != "margin" else hi
    edges = [v for c in near for v in (c - 0.01, c, c + 0.01) if lo <= v <= hi] + [lo, hi]
    return st.one_of(st.sampled_from(edges), st.floats(lo, hi, allow_nan=False))


@st.composite
def accounts(draw) -> dict:
    """A random account: each fact present or missing, values near the thresholds."""
    facts = {}
    for name in FACTS:
        # relationship facts are present nine times in ten, so that forward moves are reached often
        present = draw(st.integers(0, 9)) > 0 if name in RELATIONSHIP else draw(st.booleans())
        if present or name == "stage":
            facts[name] = draw(value_of(name))
    if draw(st.integers(0, 3)):  # three in four: a selected key account without a breakdown signal
        facts.update(abc_revenue="A", selection_rank=draw(st.integers(1, 24)), key_account_capacity=24)
        facts.update(breach_of_trust=False, priorities_changed=False)
        for name in ("days_since_last_order", "margin", "revenue_previous", "revenue_trend", "order_frequency_change"):
            facts.pop(name, None)
    return facts


# Accounts that just meet each forward rule (at its thresholds); perturbed, they sit on the edge.
AT_THE_EDGE = {
    "pre-KAM": {"potential_score": 0.6, "contact_pairs": 1, "trust_score": 4.0},
    "early-KAM": {
        "trust_score": 6.0,
        "buyer_open_to_competitors": False,
        "customisation": "limited",
        "contact_pairs": 3,
        "executive_sponsor": False,
    },
    "mid-KAM": {
        "trust_score": 7.0,
        "functions_involved": 3,
        "contact_pairs": 4,
        "joint_planning": True,
        "customisation": "tailored",
    },
    "partnership-KAM": {
        "trust_score": 8.0,
        "joint_planning": True,
        "customisation": "tailored",
        "strategic_alliance": True,
        "shared_data": True,
        "contract_years": 3.0,
        "exclusivity": True,
        "share_of_wallet": 0.6,
    },
    "synergistic-KAM": {"trust_score": 7.0, "strategic_alliance": True, "shared_data": True},
    "uncoupling-KAM": {"potential_score": 0.5, "breach_of_trust": False, "trust_score": 5.0},
}


@st.composite
def edge_accounts(draw) -> dict:
    """A selected key account that just meets its stage's forward rule, with some facts redrawn at random."""
    stage = draw(st.sampled_from(sorted(AT_THE_EDGE)))
    facts = {"stage": stage, "abc_revenue": "A", "selection_rank": 1, "key_account_capacity": 24}
    facts.update(AT_THE_EDGE[stage])
    for name in RELATIONSHIP:
        if draw(st.integers(0, 7)) == 0:
            facts[name] = draw(value_of(name))
    return facts


def improve(facts: dict, name: str, draw) -> dict:
    """The same account with one relationship-quality fact better (the fact must be present)."""
    better = dict(facts)
    v = facts[name]
    if name in ("trust_score", "share_of_wallet"):
        cap = 10.0 if name == "trust_score" else 1.0
        better[name] = min(cap, v + draw(st.floats(0.0, cap, allow_nan=False)))
    elif name in ("contact_pairs", "functions_involved"):
        better[name] = min(RULESET.facts[name].range[1], v + draw(st.integers(0, 10)))
    elif name == "customisation":
        better[name] = draw(st.sampled_from(CUSTOMISATION[CUSTOMISATION.index(v) :]))
    elif name == "buyer_open_to_competitors":
        better[name] = False
    else:
        better[name] = True
    return better


def decide(facts: dict):
    """The decision on one account, through the public Evaluator."""
    return EVALUATOR.evaluate(Account("law", facts))


def best(name: str):
    """The best value of a relationship-quality fact."""
    if name in ("trust_score", "share_of_wallet", "contact_pairs", "functions_involved"):
        return RULESET.facts[name].range[1]
    return {"customisation": "co-developed", "buyer_open_to_competitors": False}.get(name, True)


@LAWS
@given(st.one_of(accounts(), edge_accounts()), st.data())
def test_monotonicity(facts, data):
    """Improving any relationship-quality fact never lowers the recommended stage nor withdraws the designation."""
    before = decide(facts)
    for name in RELATIONSHIP:
        if name not in facts:
            continue
        # one random improvement and the best value, for every relationship fact of the account
        for better in (improve(facts, name, data.draw), {**facts, name: best(name)}):
            after = decide(better)
            if before.stage_recommended is not None:
                assert ORDER[after.stage_recommended] >= ORDER[before.stage_recommended], (name, facts, better)
            assert not (before.key_account and not after.key_account), (name, facts, better)


@LAWS
@given(st.one_of(accounts(), edge_accounts()))
def test_consistency(facts):
    """A regressing or uncoupling account gets no growth action; a non-key account gets no stage advance."""
    d = decide(facts)
    actions = {a["id"] for a in d.actions}
    if d.move in ("regress", "uncouple"):
        assert not actions & GROWTH_ACTIONS, (d.move, actions & GROWTH_ACTIONS, d.fired)
    if not d.key_account:
        assert d.move not in ("advance", "recover"), d.fired


MONEY = ("revenue", "margin", "revenue_previous")


@st.composite
def portfolios(draw, max_size: int = 14) -> list[dict]:
    """A random account table: distinct money and volume values (ABC breaks exact ties by id), any relationship."""
    n = draw(st.integers(1, max_size))
    cents = st.integers(-50_000, 5_000_000)
    revenue = draw(st.lists(cents, min_size=n, max_size=n, unique=True))
    margin = draw(st.lists(cents, min_size=n, max_size=n, unique=True))
    volume = draw(st.lists(st.integers(0, 100_000), min_size=n, max_size=n, unique=True))
    purchases = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    rows = []
    for i in range(n):
        facts = {
            "revenue": Decimal(revenue[i]).scaleb(-2),
            "margin": Decimal(margin[i]).scaleb(-2),
            "volume": Decimal(volume[i]),
            "purchases": purchases[i],
            "stage": draw(st.sampled_from(ALL_STAGES)),
        }
        for name in ("trust_score", "attractiveness", "relative_strength", "share_of_wallet"):
            if draw(st.booleans()):
                facts[name] = draw(value_of(name))
        if draw(st.booleans()):  # revenue_growth, computed from it, then takes part in the laws
            facts["revenue_previous"] = Decimal(draw(cents)).scaleb(-2)
        for name in ("executive_sponsor", "joint_planning", "buyer_open_to_competitors", "priorities_changed"):
            if draw(st.booleans()):
                facts[name] = draw(st.booleans())
        if draw(st.booleans()):
            facts["customisation"] = draw(st.sampled_from(CUSTOMISATION))
        rows.append(facts)
    return rows


def _rows(table: list[dict], ids: list[str]) -> list[AccountRow]:
    return [AccountRow(i, f, Span("law.csv", n + 2)) for n, (i, f) in enumerate(zip(ids, table, strict=True))]


def _results(rv, rename: dict[str, str] | None = None) -> dict:
    back = {v: k for k, v in (rename or {}).items()}
    out = {}
    for a in rv.accounts:
        d = a.decision
        out[back.get(d.account, d.account)] = (
            d.key_account,
            d.derived.get("eligible"),
            d.given.get("selection_rank"),
            d.stage_recommended,
            d.move,
            tuple(sorted(x["id"] for x in d.actions)),
        )
    return out


@LAWS
@given(portfolios(), st.randoms(use_true_random=False))
def test_invariance(table, rnd: random.Random):
    """Shuffling rows, renaming ids and scaling every money value by 1,000 change no result."""
    ids = [f"C{i:03d}" for i in range(len(table))]
    base = _results(review(_rows(table, ids), RULESET, SETTINGS, as_of=dt.date(2026, 9, 30)))
    order = list(range(len(table)))
    rnd.shuffle(order)
    shuffled = _results(
        review(_rows([table[i] for i in order], [ids[i] for i in order]), RULESET, SETTINGS, as_of=dt.date(2026, 9, 30))
    )
    assert shuffled == base
    rename = {i: f"X-{rnd.randrange(10**9)}-{n}" for n, i in enumerate(ids)}
    renamed = review(_rows(table, [rename[i] for i in ids]), RULESET, SETTINGS, as_of=dt.date(2026, 9, 30))
    assert _results(renamed, rename) == base
    scaled_table = [{k: (v * 1000 if k in MONEY else v) for k, v in f.items()} for f in table]
    scaled = _results(review(_rows(scaled_table, ids), RULESET, SETTINGS, as_of=dt.date(2026, 9, 30)))
    assert scaled == base


@LAWS
@given(portfolios(max_size=30), st.integers(0, 4), st.integers(0, 5))
def test_capacity(table, managers, per_manager):
    """Designated key accounts never exceed kam_managers x accounts_per_manager, on any portfolio."""
    sel = SelectionSettings(kam_managers=managers, accounts_per_manager=per_manager)
    s = Settings(SETTINGS.a_cut, SETTINGS.b_cut, SETTINGS.weights, selection=sel)
    rv = review(_rows(table, [f"C{i:03d}" for i in range(len(table))]), RULESET, s)
    designated = sum(1 for a in rv.accounts if a.decision.key_account)
    assert designated <= sel.capacity
    assert rv.selection["designated"] == designated
