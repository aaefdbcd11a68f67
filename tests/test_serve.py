"""The decision service's API: the same decisions and problems as the command line, its errors, token and reload."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient

from kamrules.audit import log as audit
from kamrules.cli import main
from kamrules.render import service as words
from kamrules.render.decision import Evaluated
from kamrules.serve import ServeConfig, Service, create_app
from kamrules.serve import documents as serve_documents
from kamrules.serve import rules as serve_rules
from kamrules.serve import service as serve_service

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = ROOT / "examples" / "accounts" / "meccanica-torinese.yaml"
AS_OF = "2026-09-30"


def as_json(path: Path) -> dict:
    """An account file as the JSON document the service takes (dates as text)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["facts"] = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in doc["facts"].items()}
    return doc


def cli_json(*args: str) -> dict:
    """The command's JSON document, less the folder its rules were read from: a service does not tell a
    client about its server's file system (every response names its rules_version instead)."""
    result = CliRunner().invoke(main, [*args, "--format", "json", "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    doc.pop("rules", None)  # explain's document has none
    return doc


@pytest.fixture
def rules_dir(tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    return folder


def client_for(rules_dir: Path, db: Path, **config) -> TestClient:
    service = Service(ServeConfig(str(rules_dir), db, workers=2, **config))
    return TestClient(create_app(service), raise_server_exceptions=False)


@pytest.fixture
def http(rules_dir, tmp_path):
    with client_for(rules_dir, tmp_path / "audit.sqlite") as c:
        yield c


def test_evaluate_answers_what_the_command_line_answers(http, rules_dir, tmp_path):
    """POST /v1/evaluate gives the document of `kamrules evaluate --format json`, with the id it is recorded under."""
    r = http.post(f"/v1/evaluate?as_of={AS_OF}", json=as_json(ACCOUNT))
    assert r.status_code == 200
    served = r.json()
    decision_id = served.pop("decision_id")
    expected = cli_json("evaluate", str(ACCOUNT), "--rules", str(rules_dir), "--no-audit")
    assert served == expected
    assert r.headers["kamrules-rules-version"] == expected["rules_version"]
    entry = audit.show(tmp_path / "audit.sqlite", decision_id)
    assert entry.record.command == "serve" and entry.account == "IT-TO-0264"


def test_batch_gives_each_account_its_own_decision(http):
    """A batch's decisions are those of the accounts sent one by one, in order, each recorded."""
    docs = [as_json(p) for p in sorted((ROOT / "examples" / "accounts").glob("*.yaml"))]
    r = http.post(f"/v1/evaluate/batch?as_of={AS_OF}&detail=full", json={"accounts": docs})
    assert r.status_code == 200
    batch = r.json()
    assert batch["count"] == len(docs)
    ids = {d.pop("decision_id") for d in batch["decisions"]}
    singles = [http.post(f"/v1/evaluate?as_of={AS_OF}", json=d).json() for d in docs]
    for s in singles:
        s.pop("decision_id")
    assert batch["decisions"] == singles
    assert all(http.get(f"/v1/decisions/{i}").status_code == 200 for i in ids)


def test_explain_answers_what_the_command_line_answers(http, rules_dir):
    """POST /v1/explain gives `kamrules explain --format json`, and records the decision it explains."""
    r = http.post(f"/v1/explain?as_of={AS_OF}", json=as_json(ACCOUNT))
    assert r.status_code == 200
    served = r.json()
    decision_id = served.pop("decision_id")
    assert served == cli_json("explain", str(ACCOUNT), "--rules", str(rules_dir))
    assert http.get(f"/v1/decisions/{decision_id}").json()["account"] == "IT-TO-0264"


def test_portfolio_reviews_an_uploaded_table_as_the_command_line_does(http, rules_dir, tmp_path):
    """POST /v1/portfolio with a CSV body gives the review of `kamrules portfolio --format json`, all recorded."""
    table = ROOT / "examples" / "portfolio.csv"
    r = http.post(f"/v1/portfolio?as_of={AS_OF}", content=table.read_bytes(), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    served = r.json()
    expected = cli_json("portfolio", str(table), "--rules", str(rules_dir), "--no-audit")
    assert served["input"] == expected["input"] | {"file": "request body.csv"}
    assert {k: v for k, v in served.items() if k != "input"} == {k: v for k, v in expected.items() if k != "input"}
    recorded = audit.list_decisions(tmp_path / "audit.sqlite")
    assert len(recorded) == len(served["accounts"]) + 1  # and the portfolio's structure decision
    rows = list(csv.DictReader(table.read_text(encoding="utf-8").splitlines()))
    as_rows = http.post(f"/v1/portfolio?as_of={AS_OF}", json=rows)  # the same table as JSON rows
    assert as_rows.json()["accounts"] == served["accounts"]
    traced = http.post(f"/v1/portfolio?as_of={AS_OF}&traces=true", json=rows).json()  # as --traces
    expected = cli_json("portfolio", str(table), "--rules", str(rules_dir), "--no-audit", "--traces")
    assert traced["accounts_as"] == "traces" and traced["accounts"] == expected["accounts"]


def test_bad_values_are_422_with_the_problems_of_the_command_line(http):
    """Unknown facts, wrong types and out-of-range values: 422, every problem with code, expected and found,
    at its line and column in the body."""
    doc = as_json(ACCOUNT)
    doc["facts"] |= {"trust_scor": 5, "revenue": "lots", "share_of_wallet": 7}
    body = json.dumps(doc, indent=2)
    r = http.post("/v1/evaluate", content=body)
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert [p["code"] for p in problems] == ["bad-value", "bad-value", "unknown-fact"]
    lines = body.splitlines()
    for p in problems:
        assert p["file"] == "request body"
        assert lines[p["line"] - 1][p["column"] - 1 :].startswith(('"lots"', "7", '"trust_scor"'))
    revenue = problems[0]
    assert revenue["expected"].startswith("a number") and revenue["found"] == "text 'lots'"
    assert "did you mean 'trust_score'" in problems[2]["help"]


@pytest.mark.parametrize(
    ("body", "code", "line", "column"),
    [
        (b'{"account": "A", "facts": {', "json", 1, 28),
        (b'{"account": "A", "facts": {"revenue": 1, "revenue": 2}}', "duplicate-key", 1, 42),
        (b"[1, 2]", "wrong-type", 1, 1),
        (b'{"facts": {}}', "missing-key", 1, 1),
        (b'\xff{"account": "A"}', "encoding", 1, 1),
    ],
    ids=["syntax", "duplicate-key", "not-an-object", "no-account", "not-utf8"],
)
def test_malformed_bodies_are_422_at_their_place(http, body, code, line, column):
    """Invalid JSON, duplicate keys, a document of the wrong shape: 422 naming the line and column."""
    r = http.post("/v1/evaluate", content=body)
    assert r.status_code == 422
    (p,) = r.json()["problems"]
    assert (p["code"], p["line"], p["column"]) == (code, line, column)
    assert "Traceback" not in r.text


def test_a_bad_query_parameter_is_a_problem_too(http):
    """A review date that is no date: 422 in the same problems list, naming the parameter."""
    r = http.post("/v1/evaluate?as_of=yesterday", json=as_json(ACCOUNT))
    assert r.status_code == 422
    (p,) = r.json()["problems"]
    assert p["file"] == "query.as_of" and p["found"] == "yesterday"


def test_a_body_over_the_limit_is_413(rules_dir, tmp_path):
    """A body larger than --max-body is refused with 413, whether it says its length or comes in chunks."""
    with client_for(rules_dir, tmp_path / "a.sqlite", max_body=300) as http:
        r = http.post("/v1/evaluate", content=b" " * 301)
        assert r.status_code == 413 and r.json()["limit"] == 300
        assert http.post("/v1/evaluate", json=as_json(ACCOUNT)).status_code == 413
        assert http.post("/v1/evaluate", content=iter([b" " * 200] * 2)).status_code == 413
        assert http.post("/v1/evaluate", json={"account": "A", "facts": {}}).status_code == 200


def test_the_token_guards_every_endpoint_but_health(rules_dir, tmp_path):
    """With a token, a request without it (or with another) is 401; the health probes answer anyway."""
    with client_for(rules_dir, tmp_path / "a.sqlite", token="t0ken") as http:
        for method, path in [("post", "/v1/evaluate"), ("get", "/v1/rules"), ("post", "/v1/rules/reload")]:
            assert getattr(http, method)(path).status_code == 401
        r = http.get("/v1/rules", headers={"authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert http.get("/openapi.json").status_code == 401
        assert http.get("/v1/rules", headers={"authorization": "Bearer t0ken"}).status_code == 200
        assert http.get("/healthz").status_code == 200 and http.get("/readyz").status_code == 200


def test_an_internal_error_is_500_with_an_id_in_the_log(http, monkeypatch, caplog):
    """A bug answers 500 with an id and no traceback; the server's log has the id beside the traceback."""

    def broken(*_args):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(serve_service, "_decide", broken)
    r = http.post("/v1/evaluate", json=as_json(ACCOUNT))
    assert r.status_code == 500
    error_id = r.json()["id"]
    assert "secret detail" not in r.text and "Traceback" not in r.text
    logged = [rec for rec in caplog.records if error_id in rec.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_reload_refuses_a_broken_folder_and_serves_a_good_one(http, rules_dir):
    """A broken folder is refused with its problems and the old version serves on; a good one is swapped in."""
    old = http.get("/v1/rules").json()["rules_version"]
    stages = rules_dir / "stages.yaml"
    good = stages.read_text(encoding="utf-8")
    stages.write_text(good.replace("fact: trust_score", "fact: trust_scor", 1), encoding="utf-8")
    r = http.post("/v1/rules/reload")
    assert r.status_code == 422 and r.json()["reloaded"] is False and r.json()["rules_version"] == old
    assert any(p["code"] == "unknown-fact" for p in r.json()["problems"])
    assert http.post("/v1/evaluate", json=as_json(ACCOUNT)).json()["rules_version"] == old
    stages.write_text(good.replace("value: 4}", "value: 4.5}", 1), encoding="utf-8")
    r = http.post("/v1/rules/reload")
    new = r.json()["rules_version"]
    assert r.status_code == 200 and r.json()["changed"] and new != old
    assert http.post("/v1/evaluate", json=as_json(ACCOUNT)).json()["rules_version"] == new


def test_rules_and_decisions_are_read_only(http):
    """GET /v1/rules lists the rules served; an unknown decision is 404; nothing writes rules or deletes records."""
    listing = http.get("/v1/rules").json()
    assert listing["counts"]["rules"] == len(listing["rules"]) > 0
    r = http.get("/v1/decisions/0123456789abcdef")
    assert r.status_code == 404 and r.json()["problems"][0]["code"] == "audit"
    methods = {m for path in http.app.app.openapi()["paths"].values() for m in path}
    assert methods == {"get", "post"}
    assert http.delete("/v1/decisions/0123456789abcdef").status_code == 405


def test_each_worker_thread_has_its_own_evaluator(rules_dir):
    """Evaluators are never shared between threads; one thread keeps one per rules version and review date."""
    import datetime as dt

    loaded = serve_rules.load(rules_dir)
    day = dt.date(2026, 9, 30)
    mine = serve_rules.evaluator(loaded, day)
    assert serve_rules.evaluator(loaded, day) is mine
    assert serve_rules.evaluator(loaded, day + dt.timedelta(days=1)) is not mine
    theirs = []
    t = threading.Thread(target=lambda: theirs.append(serve_rules.evaluator(loaded, day)))
    t.start()
    t.join()
    assert theirs[0] is not mine


def test_serve_refuses_to_start_on_a_broken_rules_folder(tmp_path):
    """`kamrules serve` checks the rules before it listens: a broken folder is exit 3 with its problems."""
    (tmp_path / "facts.yaml").write_text("facts: {}\n", encoding="utf-8")
    (tmp_path / "r.yaml").write_text("rules:\n  - id: x\n    when: {fact: nope, op: eq, value: 1}\n")
    result = CliRunner().invoke(main, ["serve", "--rules", str(tmp_path), "--audit-db", str(tmp_path / "a.db")])
    assert result.exit_code == 3
    assert "unknown fact 'nope'" in result.output


def test_a_log_that_cannot_be_written_withholds_the_decision(http, tmp_path):
    """When the decision log cannot be written the answer is 503 with an id, never an unrecorded decision."""
    db = tmp_path / "audit.sqlite"
    db.unlink()
    db.mkdir()  # the log's path is now a folder: every commit fails
    r = http.post("/v1/evaluate", json=as_json(ACCOUNT))
    assert r.status_code == 503 and r.json()["error"] == "NotRecorded" and "decision" not in r.json()
    assert http.get("/readyz").status_code == 200  # the writer survives and records again once it can


def test_a_large_bad_batch_names_the_path_of_each_problem(http, monkeypatch):
    """A body too large to read again for positions gets its problems at their JSON paths, all of them."""
    monkeypatch.setattr(serve_documents, "POSITIONS_UP_TO", 100)
    accounts = [{"account": f"A{i}", "facts": {"revenue": 1.0}} for i in range(5)]
    accounts[3]["facts"]["revenu"] = 2.0
    accounts[4] = 7
    r = http.post("/v1/evaluate/batch", json={"accounts": accounts})
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert [p["message"].split(":")[0] for p in problems] == ["at accounts[3].facts.revenu", "at accounts[4]"]
    assert {p["file"] for p in problems} == {"request body"} and problems[0]["code"] == "unknown-fact"


def test_portfolio_reads_uploaded_invoice_lines_with_the_options_of_the_command_line(http, rules_dir):
    """transactions, period, previous and columns mean what the command's options mean; a bad cell names its row."""
    invoices = ROOT / "examples" / "invoices-it.csv"
    columns = "account=Cliente,date=Data,amount=Importo,quantity=Quantità,margin=Margine"
    options = {"transactions": "true", "period": "2026Q3", "previous": "2026Q2", "columns": columns}
    upload = {"content": invoices.read_bytes(), "headers": {"content-type": "text/csv"}}
    r = http.post("/v1/portfolio", params=options | {"as_of": AS_OF, "filename": "fatture.csv"}, **upload)
    assert r.status_code == 200, r.text
    cli = ["portfolio", str(invoices), "--rules", str(rules_dir), "--no-audit", "--transactions", "--columns", columns]
    expected = cli_json(*cli, "--period", "2026Q3", "--previous", "2026Q2")
    assert r.json()["accounts"] == expected["accounts"] and r.json()["input"]["file"] == "fatture.csv"
    bad = invoices.read_bytes().replace(b"\n", b"\nX;2026-07-01;not-a-number;1;1\n", 1)
    r = http.post("/v1/portfolio", params=options | {"filename": "fatture.csv"}, content=bad)
    assert r.status_code == 422
    (p,) = r.json()["problems"]
    assert (p["file"], p["line"]) == ("fatture.csv", 2)


def test_the_fast_evaluate_path_answers_as_the_route_does(http):
    """POST /v1/evaluate with no query or only as_of skips FastAPI's request handling; its answers, errors and
    headers are the route's (a query with anything more takes the route)."""
    doc = as_json(ACCOUNT)
    fast = http.post(f"/v1/evaluate?as_of={AS_OF}", json=doc)
    routed = http.post(f"/v1/evaluate?as_of={AS_OF}&other=1", json=doc)
    assert fast.status_code == routed.status_code == 200
    assert {k: v for k, v in fast.json().items() if k != "decision_id"} == {
        k: v for k, v in routed.json().items() if k != "decision_id"
    }
    assert fast.headers["content-type"] == routed.headers["content-type"]
    assert fast.headers["kamrules-rules-version"] == routed.headers["kamrules-rules-version"]
    bad = json.dumps({"account": "A1", "facts": {"revenue": "lots"}})
    answers = [http.post(f"/v1/evaluate{q}", content=bad) for q in ("", "?other=1")]
    assert [a.status_code for a in answers] == [422, 422] and answers[0].json() == answers[1].json()
    r = http.post("/v1/evaluate?as_of=2026-02-30", json=doc)  # not a day: the route's parameter problem
    assert r.status_code == 422 and r.json()["problems"][0]["file"] == "query.as_of"


def test_a_single_answer_is_the_bytes_of_its_decision_document(http, rules_dir):
    """POST /v1/evaluate's body, its id spliced in when the log commits, is byte for byte the compact JSON of
    the decision's document with that id (the document `kamrules evaluate --format json` gives)."""
    for path in sorted((ROOT / "examples" / "accounts").glob("*.yaml")):
        body = json.dumps(as_json(path)).encode()
        r = http.post(f"/v1/evaluate?as_of={AS_OF}", content=body)
        assert r.status_code == 200
        loaded, day = serve_rules.load(rules_dir), dt.date.fromisoformat(AS_OF)
        (d,), (notes,) = serve_service._decide(loaded, body, day, False, 0)
        shown = Evaluated((d,), loaded.ruleset, (r.json()["decision_id"],), (notes,))
        assert r.content == words.compact(words.decision_document(shown)).encode()
