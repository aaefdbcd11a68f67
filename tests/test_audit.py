"""The decision log: recording, show, replay, tamper detection, concurrent writers, backtest."""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules import Evaluator, load_account, load_ruleset
from kamrules.audit import chain, records, store
from kamrules.audit import log as audit
from kamrules.audit import replay as replays
from kamrules.audit import verify as audit_verify
from kamrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXAMPLES = sorted((ROOT / "examples" / "accounts").glob("*.yaml"))
VENETA = ROOT / "examples" / "accounts" / "distribuzione-alimentare-veneta.yaml"


def run(*args: str, db: Path):
    """Run the CLI with the log at `db`."""
    return CliRunner().invoke(main, [*args], env={audit.ENV_VAR: str(db)})


@pytest.fixture
def db(tmp_path) -> Path:
    """A log holding one decision per shipped example account."""
    path = tmp_path / "audit.sqlite"
    r = run("evaluate", "--rules", str(RULES), *map(str, EXAMPLES), db=path)
    assert r.exit_code == 0, r.output
    return path


def ids(db: Path) -> list[str]:
    return [e.decision_id for e in audit.list_decisions(db)]


def loosen(rules: Path) -> None:
    """Lower early-to-mid's thresholds and drop its loyal-buyer marker: IT-VE-0088 (trust 5.5, 2 pairs) advances."""
    text = (rules / "stages.yaml").read_text()
    text = text.replace("        - {fact: buyer_open_to_competitors, op: eq, value: false}\n", "")
    text = text.replace("- {fact: trust_score, op: gte, value: 6}", "- {fact: trust_score, op: gte, value: 5}")
    text = text.replace("- {fact: contact_pairs, op: gte, value: 3}", "- {fact: contact_pairs, op: gte, value: 2}")
    (rules / "stages.yaml").write_text(text)


def tamper(db: Path, *statements: str, args=()) -> None:
    """Change the log behind kamrules' back, as someone with the file would (triggers dropped first)."""
    conn = sqlite3.connect(db)
    for table in ("decisions", "blocks"):
        conn.execute(f"DROP TRIGGER {table}_no_update")
        conn.execute(f"DROP TRIGGER {table}_no_delete")
    for s in statements:
        conn.execute(s, args) if "?" in s else conn.execute(s)
    conn.commit()
    conn.close()


def test_evaluate_records_one_decision_per_account(db):
    """Evaluate records every account of the run, in order, and the log verifies."""
    entries = audit.list_decisions(db)
    assert len(entries) == len(EXAMPLES)
    assert run("audit", "verify", db=db).exit_code == 0


def test_no_audit_records_nothing(tmp_path):
    """--no-audit leaves no log behind."""
    path = tmp_path / "audit.sqlite"
    r = run("evaluate", "--no-audit", "--rules", str(RULES), str(VENETA), db=path)
    assert r.exit_code == 0 and not path.exists()


def test_audit_db_option_wins_over_environment(tmp_path):
    """--audit-db takes precedence over $KAMRULES_AUDIT_DB."""
    env_db, opt_db = tmp_path / "env.sqlite", tmp_path / "opt.sqlite"
    r = run("evaluate", "--audit-db", str(opt_db), "--rules", str(RULES), str(VENETA), db=env_db)
    assert r.exit_code == 0 and opt_db.exists() and not env_db.exists()


def test_show_reproduces_the_full_reasoning(db):
    """audit show gives the inputs, every firing with source, conditions and observed values, and the result."""
    entry = audit.list_decisions(db, account="IT-VE-0088")[0]
    r = run("audit", "show", entry.decision_id, db=db)
    assert r.exit_code == 0, r.output
    text = r.output
    assert "same outcome as recorded" in text
    firings = replays.traced(db, entry).record.firings
    assert firings
    for firing in firings:
        assert firing["rule"] in text and firing["source"] in text
    assert "trust_score: 5.5" in text and "early-KAM → early-KAM (hold)" in text
    r = run("audit", "show", "--format", "json", entry.decision_id, db=db)
    rec = json.loads(r.output)
    assert rec["given"]["trust_score"] == 5.5
    assert rec["firings"][0]["conditions"][0]["observed"] is not None
    assert dict(audit.recorded_files(db, rec["rules_version"]))["stages.yaml"] == (RULES / "stages.yaml").read_text()


def test_list_filters_by_account_rule_and_since(db):
    """audit list filters by account, by fired rule and by date."""
    assert [e.account for e in audit.list_decisions(db, account="IT-BG-0417")] == ["IT-BG-0417"]
    fired = audit.list_decisions(db, rule="uncouple-on-breach-of-trust")
    assert [e.account for e in fired] == ["IT-TO-0264"]
    assert audit.list_decisions(db, since="2999-01-01") == []
    r = run("audit", "list", "--rule", "pre-to-early", db=db)
    assert r.exit_code == 0 and "IT-BG-0417" in r.output


def test_replay_with_recorded_rules_is_identical_after_rules_change(db, tmp_path):
    """Replay uses the recorded rule text: identical even after the rules folder changed; --rules shows the change."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = tmp_path / "log.sqlite"
    assert run("evaluate", "--rules", str(rules), str(VENETA), db=path).exit_code == 0
    loosen(rules)
    did = ids(path)[0]
    r = run("audit", "replay", did, db=path)
    assert r.exit_code == 0 and "identical" in r.output, r.output
    assert replays.replay(path, did).identical
    changed = replays.replay(path, did, str(rules))
    assert not changed.identical
    assert ("recommended stage changed", "early-KAM → mid-KAM") in changed.differences
    r = run("audit", "replay", did, "--rules", str(rules), db=path)
    assert r.exit_code == 0 and "recommended stage changed: early-KAM → mid-KAM" in r.output


def test_untouched_log_passes(db):
    """An untouched log verifies: exit 0."""
    r = run("audit", "verify", db=db)
    assert r.exit_code == 0 and f"intact: {len(EXAMPLES)} decision(s)" in r.output


def block(db: Path, seq: int) -> tuple[dict, list[dict]]:
    """The header and compact decisions of chain record `seq`."""
    with sqlite3.connect(db) as conn:
        header, data = conn.execute("SELECT header, data FROM blocks WHERE seq = ?", (seq,)).fetchone()
    return json.loads(header), records.unpack(data)[0]


@pytest.fixture
def runs(tmp_path) -> Path:
    """A log of three evaluate runs of one account each: chain records 1..6 (a block and an end per run)."""
    path = tmp_path / "runs.sqlite"
    for example in EXAMPLES[:3]:
        assert run("evaluate", "--rules", str(RULES), str(example), db=path).exit_code == 0
    return path


def test_edited_decision_is_detected(db):
    """Changing one byte of one stored decision makes verify fail (exit 1) naming its block."""
    _, decisions = block(db, 1)
    decisions[3]["given"]["trust_score"] += 1
    data, _ = records.pack(decisions)  # the header keeps the digest of the decisions as recorded
    tamper(db, "UPDATE blocks SET data = ? WHERE seq = 1", args=(data,))
    r = run("audit", "verify", db=db)
    assert r.exit_code == 1
    assert "record 1" in r.output and "digest mismatch" in r.output


def test_deleted_record_is_detected(runs):
    """Deleting a record in the middle of the chain makes verify fail naming the record after the gap."""
    tamper(runs, "DELETE FROM blocks WHERE seq = 3")
    r = run("audit", "verify", db=runs)
    assert r.exit_code == 1
    assert "record 4" in r.output and "record 3 is missing" in r.output


def test_swapped_records_are_detected(runs):
    """Swapping two runs' blocks makes verify fail naming the first swapped record."""
    cols = "run, recorded_at, header, data, prev_hash, hash, mac"
    with sqlite3.connect(runs) as conn:
        a = conn.execute(f"SELECT {cols} FROM blocks WHERE seq = 1").fetchone()
        b = conn.execute(f"SELECT {cols} FROM blocks WHERE seq = 3").fetchone()
    tamper(runs, "DELETE FROM blocks WHERE seq IN (1, 3)")
    with sqlite3.connect(runs) as conn:
        conn.execute(f"INSERT INTO blocks (seq, {cols}) VALUES (1, ?, ?, ?, ?, ?, ?, ?)", b)
        conn.execute(f"INSERT INTO blocks (seq, {cols}) VALUES (3, ?, ?, ?, ?, ?, ?, ?)", a)
    v = audit_verify.verify(runs)
    assert v.broken is not None and v.broken.seq == 1
    r = run("audit", "verify", db=runs)
    assert r.exit_code == 1 and "record 1" in r.output


def test_edited_rule_text_is_detected(db):
    """Changing the recorded rule text makes verify fail."""
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER rulesets_no_update")
    conn.execute("UPDATE rulesets SET files = replace(files, 'value: 6}', 'value: 5}')")
    conn.commit()
    conn.close()
    r = run("audit", "verify", db=db)
    assert r.exit_code == 1 and "rule set" in r.output


def test_log_refuses_update_and_delete_through_sql(db):
    """The log's triggers refuse UPDATE and DELETE of records."""
    with sqlite3.connect(db) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM blocks WHERE seq = 1")
    with sqlite3.connect(db) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE blocks SET data = NULL WHERE seq = 1")


def test_unknown_id_and_bad_file_are_invalid_input(db, tmp_path):
    """An unknown decision id, a missing log and a non-SQLite file are exit 3 with a message, no traceback."""
    r = run("audit", "show", "ffffffffffff", db=db)
    assert r.exit_code == 3 and "no decision with id 'ffffffffffff'" in r.output
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database\n" * 100)
    r = run("audit", "verify", db=bad)
    assert r.exit_code == 3 and "file is not a database" in r.output and "Traceback" not in r.output
    r = run("audit", "list", db=tmp_path / "none.sqlite")
    assert r.exit_code == 3 and "no audit log here" in r.output


WRITER = """
import sys
import time
from kamrules import Evaluator, load_account, load_ruleset
from kamrules.audit import log as audit
from pathlib import Path
rs = load_ruleset(sys.argv[2])
with Evaluator(rs) as ev:
    d = ev.evaluate(load_account(sys.argv[3], rs))
Path(sys.argv[4]).touch()
while not Path(sys.argv[5]).exists():  # start line: both writers begin together
    time.sleep(0.001)
for _ in range(1000):
    audit.record(Path(sys.argv[1]), [d], rs)
"""


def test_two_processes_writing_at_once_keep_one_linear_chain(tmp_path):
    """Two processes each recording 1,000 decisions at once give 2,000 records and an intact chain."""
    path = tmp_path / "audit.sqlite"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(path),
                str(RULES),
                str(EXAMPLES[i]),
                str(tmp_path / f"ready{i}"),
                str(go),
            ]
        )
        for i in range(2)
    ]
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.01)
    go.touch()
    assert [p.wait() for p in procs] == [0, 0]
    v = audit_verify.verify(path)
    assert v.ok and v.decisions == 2000
    accounts = [e.account for e in audit.list_decisions(path)]
    assert accounts.count(accounts[0]) == 1000 and len(set(accounts)) == 2
    switches = sum(a != b for a, b in itertools.pairwise(accounts))
    print(f"writers took turns {switches} times")  # shown with -s; interleaving is not asserted (timing)


def test_backtest_counts_changes_by_type(db, tmp_path):
    """Backtest with a loosened early-to-mid threshold counts the one account that would now advance."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    loosen(rules)
    b = replays.backtest(db, str(rules))
    d = b.to_dict()
    assert d["decisions"] == len(EXAMPLES) and d["changed"] == 1
    assert d["changes"]["recommended stage changed"]["accounts"] == ["IT-VE-0088"]
    assert d["changes"]["stage move changed"]["count"] == 1
    assert d["changes"]["key account lost"]["count"] == 0
    r = run("audit", "backtest", "--rules", str(rules), db=db)
    assert r.exit_code == 0 and "recommended stage changed: 1 decision(s) of 1 account(s)  (IT-VE-0088)" in r.output
    same = replays.backtest(db, str(RULES))
    assert same.changed == 0 and not same.skipped


def test_evaluate_names_the_recorded_decision(tmp_path):
    """evaluate tells which decision id it recorded, and audit show finds it."""
    db = tmp_path / "log.sqlite"
    r = CliRunner().invoke(
        main, ["evaluate", str(EXAMPLES[0]), "--rules", str(RULES), "--audit-db", str(db), "--format", "json"]
    )
    decision_id = json.loads(r.stdout)["decision_id"]
    shown = CliRunner().invoke(main, ["audit", "show", decision_id, "--audit-db", str(db)])
    assert shown.exit_code == 0 and decision_id in shown.stdout


V1_KEYS = {
    "decision_id",
    "recorded_at",
    "command",
    "account",
    "origin",
    "given",
    "derived",
    "rules_version",
    "kamrules_version",
    "firings",
    "decision",
}


def legacy_log(db: Path, account: Path = VENETA) -> None:
    """A log as kamrules wrote it before schema 3: one row per decision with its full trace (schema 2)."""
    rs = load_ruleset(RULES)
    with Evaluator(rs) as ev:
        d = ev.evaluate(load_account(account, rs)).to_dict()
    did, at = "a" * 32, "2026-01-02T03:04:05.000000+00:00"
    given, derived, firings = d.pop("given"), d.pop("derived"), d.pop("reasons")
    rec = {
        "decision_id": did,
        "recorded_at": at,
        "command": "evaluate",
        "account": d["account"],
        "origin": str(account),
    }
    rec |= {"given": given, "derived": derived, "rules_version": rs.version, "kamrules_version": d["kamrules_version"]}
    rec |= {"firings": firings, "decision": d, "kind": "account", "schema": 2}
    text = chain.canonical(rec)
    with store.connect(db, write=True) as conn, store.transaction(conn):
        files = chain.canonical([list(f) for f in rs.files])
        conn.execute("INSERT INTO rulesets(version, files) VALUES (?, ?)", (rs.version, files))
        row = (1, did, at, d["account"], rs.version, d["kamrules_version"], text, chain.GENESIS)
        conn.execute(
            "INSERT INTO decisions VALUES (?,?,?,?,?,?,?,?,?)",
            (*row, chain.chain_hash(chain.GENESIS, text, did, at, 1)),
        )


def rewrite_record(db: Path, seq: int, edit) -> None:
    """Replace record `seq` with `edit(record dict)` and rehash it, as a kamrules that wrote that record would have."""
    with sqlite3.connect(db) as conn:
        text, did, at, prev = conn.execute(
            "SELECT record, decision_id, recorded_at, prev_hash FROM decisions WHERE seq = ?", (seq,)
        ).fetchone()
    new = chain.canonical(edit(json.loads(text)))
    tamper(
        db,
        "UPDATE decisions SET record = ?, hash = ? WHERE seq = ?",
        args=(new, chain.chain_hash(prev, new, did, at, seq), seq),
    )


def test_new_records_are_compact_and_keep_what_replays_them(tmp_path):
    """A new decision stores its facts, outcome and fired rules (no trace); its block names schema 3 and the kind."""
    db = tmp_path / "log.sqlite"
    assert run("evaluate", "--rules", str(RULES), str(VENETA), db=db).exit_code == 0
    header, (rec,) = block(db, 1)
    assert (header["schema"], header["kind"], header["count"]) == (3, "account", 1)
    # the default rules compute dates (days_since_review, months_in_stage): the review date is recorded too
    assert set(rec) == {"account", "name", "origin", "given", "derived", "stage", "actions", "fired", "as_of"}
    assert rec["given"]["trust_score"] == 5.5 and rec["stage"]["move"] == "hold"


def test_a_run_appended_to_a_schema_2_log_continues_its_chain(tmp_path):
    """kamrules appends new runs after the rows an earlier version wrote; the whole log verifies and lists."""
    db = tmp_path / "log.sqlite"
    legacy_log(db)
    assert run("evaluate", "--rules", str(RULES), str(VENETA), db=db).exit_code == 0
    v = audit_verify.verify(db)
    assert v.ok and (v.records, v.decisions) == (3, 2)
    assert [e.record.schema for e in audit.list_decisions(db)] == [2, 3]
    tamper(db, "UPDATE decisions SET hash = ? WHERE seq = 1", args=("0" * 64,))
    assert audit_verify.verify(db).broken.seq == 1


def test_version_1_record_is_still_readable(tmp_path):
    """A record written before schema versions (no schema, no kind) verifies, lists as an account, shows and replays."""
    db = tmp_path / "log.sqlite"
    legacy_log(db)
    rewrite_record(db, 1, lambda rec: {k: v for k, v in rec.items() if k in V1_KEYS})
    with sqlite3.connect(db) as conn:
        assert set(json.loads(conn.execute("SELECT record FROM decisions").fetchone()[0])) == V1_KEYS
    assert run("audit", "verify", db=db).exit_code == 0
    (entry,) = audit.list_decisions(db)
    assert (entry.record.schema, entry.record.kind) == (1, "account")
    listed = json.loads(run("audit", "list", "--format", "json", db=db).output)
    assert listed[0]["kind"] == "account"
    shown = run("audit", "show", entry.decision_id, db=db)
    assert shown.exit_code == 0 and "trust_score: 5.5" in shown.output
    assert replays.replay(db, entry.decision_id).identical


def test_record_of_a_newer_schema_is_refused_with_a_message(tmp_path):
    """A record of a schema version this kamrules does not know is exit 3 naming the record, and verify fails."""
    db = tmp_path / "log.sqlite"
    legacy_log(db)
    rewrite_record(db, 1, lambda rec: rec | {"schema": 99})
    r = run("audit", "list", db=db)
    assert r.exit_code == 3 and "record 1" in r.output and "schema version 99 is newer" in r.output
    r = run("audit", "verify", db=db)
    assert r.exit_code == 1 and "record 1" in r.output and "schema version 99" in r.output


def test_audit_list_shows_the_kind(tmp_path):
    """audit list has a kind column: 'account' for account decisions, 'portfolio' for a portfolio's decision."""
    db = tmp_path / "log.sqlite"
    rs = load_ruleset(RULES)
    with Evaluator(rs) as ev:
        d = ev.evaluate(load_account(VENETA, rs))
    audit.record(db, [d], rs)
    audit.record(db, [d], rs, "portfolio", kind="portfolio")
    assert [e.record.kind for e in audit.list_decisions(db)] == ["account", "portfolio"]
    r = run("audit", "list", db=db)
    header, _, account_row, portfolio_row = r.output.splitlines()
    assert header.split()[:4] == ["decision_id", "recorded_at", "kind", "account"]
    assert account_row.split()[2] == "account" and portfolio_row.split()[2] == "portfolio"
    assert replays.backtest(db, str(RULES)).decisions == 1  # a rules folder re-decides accounts only


def test_replay_names_the_original_rule_files(db):
    """A replay with the recorded rules names each firing's source as recorded (the original folder), not a copy."""
    for entry in audit.list_decisions(db):
        r = replays.replay(db, entry.decision_id)
        assert r.identical
        full = replays.traced(db, entry)
        assert full.recomputed and [x["source"] for x in r.new["reasons"]] == [f["source"] for f in full.record.firings]
        assert all(f["source"].startswith(str(RULES)) for f in full.record.firings)


def test_list_is_limited_and_says_how_many_more(db):
    """audit list shows at most --limit decisions (default 50) and says how many more match."""
    r = run("audit", "list", "--limit", "3", db=db)
    lines = r.output.splitlines()
    assert r.exit_code == 0 and len(lines) == 2 + 3 + 1
    assert lines[-1].startswith(f"… and {len(EXAMPLES) - 3} more")
    assert len(json.loads(run("audit", "list", "--limit", "2", "--format", "json", db=db).output)) == 2
    assert "more" not in run("audit", "list", db=db).output


def test_list_filters_by_run_and_account(db):
    """audit list --run keeps one run's decisions (by a prefix of its id), --account one account's."""
    assert run("evaluate", "--rules", str(RULES), str(VENETA), db=db).exit_code == 0
    first, *_, last = audit.list_decisions(db)
    r = run("audit", "list", "--run", first.run[:8], "--format", "json", db=db)
    assert [e["decision_id"] for e in json.loads(r.output)] == [f"{first.run}-{i}" for i in range(1, len(EXAMPLES) + 1)]
    r = run("audit", "list", "--account", "IT-VE-0088", "--format", "json", db=db)
    assert [e["decision_id"].split("-")[0] for e in json.loads(r.output)] == [first.run, last.run]


def test_explain_recomputes_a_recorded_decision(db, tmp_path):
    """audit explain ACCOUNT --run gives the explanation of the recorded decision, from the recorded rule text."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    loosen(rules)  # the folder changed since; the explanation uses what the log recorded
    entry = audit.list_decisions(db, account="IT-VE-0088")[0]
    r = run("audit", "explain", "IT-VE-0088", "--run", entry.run, "--format", "json", db=db)
    assert r.exit_code == 0, r.output
    direct = run("explain", "--rules", str(RULES), str(VENETA), "--format", "json", db=db)
    assert json.loads(r.output) == json.loads(direct.output)
    r = run("audit", "explain", "IT-XX-0000", "--run", entry.run, db=db)
    assert r.exit_code == 3 and "no decision for account 'IT-XX-0000'" in r.output


def test_backtest_counts_accounts_and_decisions_apart(db, tmp_path):
    """An account decided twice counts as two decisions of one account in a backtest."""
    assert run("evaluate", "--rules", str(RULES), str(VENETA), db=db).exit_code == 0
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    loosen(rules)
    d = replays.backtest(db, str(rules)).to_dict()
    assert (d["decisions"], d["accounts"]) == (len(EXAMPLES) + 1, len(EXAMPLES))
    assert (d["changed"], d["changed_accounts"]) == (2, 1)
    r = run("audit", "backtest", "--rules", str(rules), db=db)
    assert f"over {len(EXAMPLES) + 1} recorded decision(s) of {len(EXAMPLES)} account(s)" in r.output


def test_another_programs_database_is_left_alone(tmp_path):
    """Pointing the log at another SQLite database is exit 3, and kamrules adds no table to it."""
    other = tmp_path / "app.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id TEXT)")
    r = run("evaluate", "--rules", str(RULES), str(VENETA), db=other)
    assert r.exit_code == 3 and "not a kamrules audit log" in r.output
    with sqlite3.connect(other) as conn:
        assert [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["customers"]


def test_a_block_gives_back_each_decision_exactly(db):
    """Packing decisions by column and unpacking them gives the same decisions, facts missing from some included."""
    decisions = [e.compact for e in audit.list_decisions(db)]
    assert len({frozenset(d["given"]) for d in decisions}) > 1  # the example accounts give different facts
    decisions[0]["given"]["odd"] = None  # a value that is not there is not a null, and the other way round
    data, digest = records.pack(decisions)
    assert records.unpack(data) == (decisions, digest)
