"""Batches on the columnar plan: the same bytes as durable_rules would give, and a cross-checked sample."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from test_serve import AS_OF, ROOT, as_json, client_for

from kamrules.audit import log as audit
from kamrules.engine import Evaluator
from kamrules.engine.columnar import RulePlan
from kamrules.kam import context as kam_context
from kamrules.render.decision import Evaluated
from kamrules.render.service import batch_document, compact
from kamrules.serve import documents as serve_documents
from kamrules.serve.rules import load


@pytest.fixture
def rules_dir(tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    return folder


@pytest.fixture
def http(rules_dir, tmp_path):
    with client_for(rules_dir, tmp_path / "audit.sqlite") as c:
        yield c


STAGES = ["pre-KAM", "early-KAM", "mid-KAM", "partnership-KAM", "synergistic-KAM", "uncoupling-KAM"]


def varied_batch() -> list[dict]:
    """The example accounts, and copies of them at every stage with revenue and trust moved: many paths."""
    docs = [as_json(p) for p in sorted((ROOT / "examples" / "accounts").glob("*.yaml"))]
    out = list(docs)
    for i in range(300):
        doc = json.loads(json.dumps(docs[i % len(docs)]))
        doc["account"] = f"{doc['account']}-{i}"
        facts = doc["facts"]
        facts["stage"] = STAGES[i % len(STAGES)]
        if "revenue" in facts:
            facts["revenue"] = round(facts["revenue"] * (0.2 + (i % 9) * 0.25), 2)
        if "trust_score" in facts:
            facts["trust_score"] = float(1 + i % 5)
        if i % 7 == 0:
            facts.pop("trust_score", None)  # missing facts take their own paths
        out.append(doc)
    return out


def test_a_batch_on_the_columnar_plan_is_the_bytes_durable_rules_give(http, rules_dir, tmp_path):
    """POST /v1/evaluate/batch runs the columnar plan; its answer is byte for byte the durable_rules answer."""
    docs = varied_batch()
    body = json.dumps({"accounts": docs}).encode()
    r = http.post(f"/v1/evaluate/batch?as_of={AS_OF}&detail=full", content=body)
    assert r.status_code == 200, r.text
    ids = tuple(d["decision_id"] for d in r.json()["decisions"])
    loaded = load(rules_dir)
    reader = serve_documents.batch_reader(loaded.ruleset, "POST /v1/evaluate/batch")
    accounts = serve_documents.read_body(body, reader)
    with Evaluator(loaded.ruleset, as_of=dt.date.fromisoformat(AS_OF)) as ev:
        prepared = kam_context.prepare(ev, accounts, loaded.settings)
        decisions = ev.evaluate_many([a for a, _ in prepared])  # durable_rules fires every account
    expected = Evaluated(tuple(decisions), loaded.ruleset, ids, tuple(n for _, n in prepared))
    assert r.content == compact(batch_document(expected)).encode()
    assert len({d.stage_rule for d in decisions}) > 3 and len({d.move for d in decisions}) > 2  # many paths
    assert len(audit.list_decisions(tmp_path / "audit.sqlite")) == len(docs)


def test_a_batch_the_engines_decide_differently_is_a_500_and_recorded_nowhere(http, monkeypatch, caplog, tmp_path):
    """When the cross-checked sample differs, the answer is a 500 with an id, the log has the difference, and
    no decision of the batch is recorded or sent."""
    real = RulePlan.firings

    def wrong(self, frame):
        return [f[:-1] for f in real(self, frame)]  # the plan "forgets" each account's last firing

    monkeypatch.setattr(RulePlan, "firings", wrong)
    r = http.post(f"/v1/evaluate/batch?as_of={AS_OF}&detail=full", json={"accounts": varied_batch()})
    assert r.status_code == 500
    error_id = r.json()["id"]
    logged = [rec for rec in caplog.records if error_id in rec.getMessage()]
    assert logged and "decided account" in str(logged[0].exc_info[1])
    assert "decided account" not in r.text
    assert not (tmp_path / "audit.sqlite").exists() or not audit.list_decisions(tmp_path / "audit.sqlite")
