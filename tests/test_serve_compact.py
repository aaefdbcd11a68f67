"""The compact batch answer: what the full answer says, recorded as a frame, its body read into columns."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_serve import AS_OF, ROOT, as_json, client_for
from test_serve_batch import varied_batch

from kamrules.audit import log as audit
from kamrules.cli import main
from kamrules.engine.columnar import RulePlan
from kamrules.errors import InvalidInput
from kamrules.serve import columns
from kamrules.serve import documents as serve_documents
from kamrules.serve.rules import load

EXAMPLES = [as_json(p) for p in sorted((ROOT / "examples" / "accounts").glob("*.yaml"))]
SAME = ("account", "name", "key_account", "stage", "structure", "derived", "fired", "notes")


@pytest.fixture
def rules_dir(tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    return folder


@pytest.fixture
def http(rules_dir, tmp_path):
    with client_for(rules_dir, tmp_path / "audit.sqlite") as c:
        yield c


def assert_compact_says_what_full_says(http, docs: list[dict]) -> list[dict]:
    """Post one batch both ways; every field of the compact answer is the full answer's. Returns the compact."""
    body = json.dumps({"accounts": docs})
    short = http.post(f"/v1/evaluate/batch?as_of={AS_OF}", content=body)
    full = http.post(f"/v1/evaluate/batch?as_of={AS_OF}&detail=full", content=body)
    assert short.status_code == full.status_code == 200, short.text
    s, f = short.json(), full.json()
    assert (s["count"], s["rules_version"], s["detail"]) == (f["count"], f["rules_version"], "compact")
    for c, d in zip(s["decisions"], f["decisions"], strict=True):
        assert {k: c[k] for k in SAME} == {k: d[k] for k in SAME}
        assert c["actions"] == [{"id": a["id"], "rules": a["rules"]} for a in d["actions"]]
        assert set(c) == {*SAME, "actions", "decision_id"}
    return s["decisions"]


def test_the_compact_answer_says_what_the_full_one_says_and_the_log_has_the_rest(http, tmp_path):
    """On the examples and on varied copies (every stage, missing facts), each compact decision is the full one
    less its reasons; every decision is recorded, `GET /v1/decisions/{id}` gives the full record and the log
    verifies."""
    bare = {"account": "NEW-1", "name": "Nuova S.r.l.", "facts": {"stage": "pre-KAM", "revenue": 1000.0}}  # notes
    decisions = assert_compact_says_what_full_says(http, [*varied_batch(), bare])
    assert len({d["stage"]["rule"] for d in decisions}) > 3 and any(d["notes"] for d in decisions)
    db = tmp_path / "audit.sqlite"
    assert audit.count_decisions(db) == 2 * len(decisions)  # the compact batch and the full one
    full = http.post(f"/v1/evaluate?as_of={AS_OF}", json=EXAMPLES[0]).json()
    shown = http.get(f"/v1/decisions/{decisions[0]['decision_id']}").json()
    single = http.get(f"/v1/decisions/{full['decision_id']}").json()
    assert shown["firings"] == single["firings"] and shown["firings"]  # the reasons, recomputed from the log
    assert shown["decision"] == single["decision"] and shown["account"] == EXAMPLES[0]["account"]
    verified = CliRunner().invoke(main, ["audit", "verify", "--audit-db", str(db)])
    assert verified.exit_code == 0, verified.output


def test_a_planted_plan_difference_is_a_500_with_an_id_and_nothing_recorded(http, monkeypatch, caplog, tmp_path):
    """The seeded durable_rules sample of a compact batch catches a plan that decides otherwise (exit 4's 500)."""
    real = RulePlan.outcome

    def wrong(self, frame):
        return real(self, frame).with_columns(pl.lit("hold").alias("move"))  # the plan "forgets" every move

    monkeypatch.setattr(RulePlan, "outcome", wrong)
    r = http.post(f"/v1/evaluate/batch?as_of={AS_OF}", json={"accounts": varied_batch()})
    assert r.status_code == 500 and "decided account" not in r.text
    logged = [rec for rec in caplog.records if r.json()["id"] in rec.getMessage()]
    assert logged and "decided account" in str(logged[0].exc_info[1])
    assert not (tmp_path / "audit.sqlite").exists() or not audit.list_decisions(tmp_path / "audit.sqlite")


def test_a_bad_compact_batch_has_the_problems_of_a_full_one(http):
    """A wrong value, an unknown fact, a null: the same problems list, lines and columns as the full answer's."""
    docs = json.loads(json.dumps(EXAMPLES[:3]))
    docs[1]["facts"]["revenue"] = "lots"
    docs[2]["facts"]["trust_scor"] = 2.0
    docs[0]["facts"]["stage"] = None
    body = json.dumps({"accounts": docs}, indent=1)
    short = http.post("/v1/evaluate/batch", content=body)
    full = http.post("/v1/evaluate/batch?detail=full", content=body)
    assert short.status_code == full.status_code == 422
    assert short.json()["problems"] == full.json()["problems"] and len(short.json()["problems"]) == 3
    assert http.post("/v1/evaluate/batch?detail=short", content=body).status_code == 422  # a bad parameter


RULES = load(ROOT / "rules").ruleset
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.sampled_from(["mid-KAM", "early-KAM", "2026-02-27", "2026-02-30", "0000-01-01", "2026-2-27", "", "x"]),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def batches(draw: st.DrawFn) -> list[dict]:
    """Example accounts with values changed, facts dropped or misspelt, ids and names of any type."""
    docs = []
    for i in range(draw(st.integers(1, 6))):
        doc = json.loads(json.dumps(EXAMPLES[draw(st.integers(0, len(EXAMPLES) - 1))]))
        doc["account"] = draw(st.sampled_from([*[f"A{i}"] * 8, f"A {i}\n", i, " "]))
        facts = doc["facts"]
        changed = st.lists(st.sampled_from([*sorted(RULES.facts), "revenu"]), max_size=3)
        for name in draw(changed) if draw(st.integers(0, 9)) < 3 else ():  # most accounts as they are
            if draw(st.booleans()):
                facts.pop(name, None)
            else:
                facts[name] = draw(VALUES)
        if draw(st.integers(0, 9)) == 0:
            doc["name"] = draw(VALUES)
        docs.append(doc)
    return docs


@settings(max_examples=300, deadline=None)
@given(batches())
def test_reading_by_column_takes_a_body_only_as_the_node_reading_would(docs):
    """The column reading declines a body (None) or gives exactly the accounts the node reading finds in it."""
    body = json.dumps({"accounts": docs}).encode()
    frame = columns.plain_frame(body, RULES, "batch")
    if frame is None:
        return
    accounts = serve_documents.read_body(body, serve_documents.batch_reader(RULES, "batch"))  # no InvalidInput
    assert frame.equals(columns.accounts_frame(accounts, RULES))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches())
def test_the_compact_answer_of_any_batch_is_the_full_answer_or_its_problems(http, docs):
    """Good batches: the compact decisions are the full ones less their reasons; bad ones: the same problems."""
    body = json.dumps({"accounts": docs})
    try:
        serve_documents.read_body(body.encode(), serve_documents.batch_reader(RULES, "batch"))
    except InvalidInput:
        short = http.post(f"/v1/evaluate/batch?as_of={AS_OF}", content=body)
        full = http.post(f"/v1/evaluate/batch?as_of={AS_OF}&detail=full", content=body)
        assert short.status_code == full.status_code == 422 and short.json() == full.json()
        return
    assert_compact_says_what_full_says(http, docs)


def test_a_lone_surrogate_escape_is_a_422_not_a_500(http):
    """JSON lets "\\ud800" through, UTF-8 cannot hold it: a problem of the body at its place, on every path."""
    doc = {"account": "A1", "name": "x\ud800", "facts": {"stage": "pre-KAM"}}
    for path, body in [("/v1/evaluate/batch", {"accounts": [doc]}), ("/v1/evaluate", doc)]:
        r = http.post(path, content=json.dumps(body))
        assert r.status_code == 422, r.text
        (p,) = r.json()["problems"]
        assert (
            p["code"] == "json" and "surrogate" in p["message"] and p["column"] == json.dumps(body).index("\\ud800") + 1
        )
    pair = {"account": "A1", "name": "x\U0001f600", "facts": {"stage": "pre-KAM"}}  # both halves: a character
    assert http.post("/v1/evaluate/batch", content=json.dumps({"accounts": [pair]})).status_code == 200


@settings(max_examples=300, deadline=None)
@given(batches())
def test_a_plain_single_account_is_taken_only_as_the_node_reading_would(docs):
    """POST /v1/evaluate takes a plainly right document as it is (documents.plain_account), or reads it node by
    node; what it takes is the account the node reading gives."""
    for doc in docs:
        body = json.dumps(doc).encode()
        account = serve_documents.plain_account(json.loads(body), RULES, "one")
        if account is not None:
            assert [account] == serve_documents.read_body(body, serve_documents.account_reader(RULES, "one"))


def test_an_empty_batch_and_a_numeric_id_take_the_node_reading_and_answer(http, tmp_path):
    """No accounts: count 0, nothing recorded. A numeric id reads as in a full batch."""
    r = http.post("/v1/evaluate/batch", json={"accounts": []})
    assert r.status_code == 200 and r.json()["count"] == 0 and r.json()["decisions"] == []
    assert not audit.count_decisions(tmp_path / "audit.sqlite")
    body = '{"accounts": [{"account": 7.50, "facts": {"stage": "pre-KAM"}}]}'
    (short,) = http.post("/v1/evaluate/batch", content=body).json()["decisions"]
    (full,) = http.post("/v1/evaluate/batch?detail=full", content=body).json()["decisions"]
    assert short["account"] == full["account"] == "7.5"
