"""The decision log written from a compact decision frame: the contract, per-decision reading, tamper detection."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from kamrules.audit import chain, frames, records
from kamrules.audit import log as audit
from kamrules.audit import replay as replays
from kamrules.audit import verify as audit_verify
from kamrules.cli import main
from kamrules.inputs import read_review_input
from kamrules.kam import load_settings, load_structure_rules
from kamrules.kam import review as pf
from kamrules.lang import load_ruleset

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
PORTFOLIO = ROOT / "examples" / "portfolio.csv"


@pytest.fixture(scope="module")
def reviewed():
    """The example portfolio reviewed through durable_rules: its rule sets, account decisions, structure decision."""
    ruleset, structure = load_ruleset(str(RULES)), load_structure_rules(str(RULES))
    rows, before, _ = read_review_input(str(PORTFOLIO), False, None, None, None)
    got: list = []
    rv = pf.review(rows, ruleset, load_settings(str(RULES)), before, None, got.extend, structure, dt.date(2026, 9, 30))
    return ruleset, structure, [r.decision for r in got], rv.structure.decision


@pytest.fixture(scope="module")
def both(reviewed, tmp_path_factory):
    """One log with the same review recorded twice: decision by decision (add), then as one frame (add_frame)."""
    ruleset, structure, decisions, portfolio = reviewed
    db = tmp_path_factory.mktemp("log") / "audit.sqlite"
    with audit.Recorder(db, ruleset, "portfolio") as by_decision:
        by_decision.add(decisions)
        by_decision.add([portfolio], structure, kind="portfolio")
    with audit.Recorder(db, ruleset, "portfolio") as by_frame:
        ids = by_frame.add_frame(frames.compact_frame(decisions, ruleset))
        portfolio_ids = by_frame.add_frame(frames.compact_frame([portfolio], structure), structure, kind="portfolio")
    return db, by_decision.ids, ids.to_list() + portfolio_ids.to_list()


def run(*args: str, db: Path):
    """Run the CLI with the log at `db`."""
    return CliRunner().invoke(main, [*args], env={audit.ENV_VAR: str(db)})


def blocks(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT seq, header, data FROM blocks ORDER BY seq").fetchall()


def frame_block(db: Path) -> tuple[int, dict, bytes]:
    """The first schema-4 block of the log: its seq, header and data."""
    seq, header, data = next(b for b in blocks(db) if json.loads(b[1])["schema"] == 4)
    return seq, json.loads(header), data


def tamper(db: Path, sql: str, args: tuple) -> None:
    """Change the log behind kamrules' back (its append-only triggers dropped first)."""
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER blocks_no_update")
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def copy(db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.sqlite"
    with sqlite3.connect(db) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def test_the_frame_holds_what_the_compact_record_holds(reviewed):
    """compact_frame has the contract's columns and types, facts in rule-set order, and each compact record."""
    ruleset, _, decisions, _ = reviewed
    frame = frames.compact_frame(decisions, ruleset)
    assert frame.columns == [
        "account", "name", "origin", "given", "derived", "stage_current", "stage_recommended", "move",
        "stage_rule", "structure", "structure_rule", "actions", "fired", "as_of",
    ]  # fmt: skip
    given = frame.schema["given"].to_schema()
    assert list(given) == [f.name for f in ruleset.facts.values() if f.given]
    assert (given["revenue"], given["purchases"], given["stage_since"]) == (pl.Float64, pl.Int64, pl.Date)
    assert frame.schema["fired"] == pl.List(pl.String) and frame.height == len(decisions)
    expected = [json.loads(chain.canonical(records.compact(d))) for d in decisions]
    assert frames.frame_records(frames.decode(frames.encode(frame))) == expected


def test_a_frame_that_breaks_the_contract_is_refused_naming_the_column(reviewed, tmp_path):
    """add_frame refuses a frame with a column missing, of another type or with an empty required cell, naming it."""
    ruleset, _, decisions, _ = reviewed
    frame = frames.compact_frame(decisions, ruleset)
    fourth = pl.int_range(pl.len()) == 3
    bad = {
        "no column 'fired'": frame.drop("fired"),
        "column 'as_of' is String": frame.with_columns(pl.col("as_of").cast(pl.String)),
        "column 'account' has empty cells": frame.with_columns(account=pl.when(fourth).then(None).otherwise("account")),
        "column 'given'": frame.with_columns(pl.col("given").struct.with_fields(pl.lit(1).alias("odd"))),
    }  # fmt: skip
    with audit.Recorder(tmp_path / "log.sqlite", ruleset, "portfolio") as rec:
        for message, wrong in bad.items():
            with pytest.raises(ValueError, match=message):
                rec.add_frame(wrong)
    assert not (tmp_path / "log.sqlite").exists()  # nothing was recorded


def test_a_frame_written_run_verifies_and_counts_its_decisions(both, reviewed):
    """The log with a decision-written and a frame-written run verifies; the frame run has ids RUN-1..N."""
    db, by_decision, by_frame = both
    v = audit_verify.verify(db)
    assert v.ok, v.broken
    assert v.decisions == 2 * (len(reviewed[2]) + 1) and not v.unfinished
    run = by_frame[0].rsplit("-", 1)[0]
    assert by_frame == [f"{run}-{i}" for i in range(1, len(by_decision) + 1)]
    assert [json.loads(h)["schema"] for _, h, _ in blocks(db)] == [3, 3, 3, 4, 4, 3]


def _without_ids(text: str, *ids: str) -> str:
    for i in ids:
        text = text.replace(i, "ID")
    return re.sub(r"\(#\d+, recorded \S+", "(#SEQ, recorded AT", text)


def test_show_replay_and_explain_are_the_same_for_both_runs(both):
    """audit show, replay and explain of each decision say the same for the frame run as for the decision run."""
    db, by_decision, by_frame = both
    assert len(by_decision) == len(by_frame) > 10
    for old, new in zip(by_decision, by_frame, strict=True):
        shown = [run("audit", "show", i, db=db) for i in (old, new)]
        assert all(r.exit_code == 0 for r in shown), shown[1].output
        assert _without_ids(shown[0].output, old) == _without_ids(shown[1].output, new)
        assert "same outcome as recorded" in shown[1].output
        replayed = [run("audit", "replay", i, db=db) for i in (old, new)]
        assert [r.exit_code for r in replayed] == [0, 0]
        assert _without_ids(replayed[0].output, old) == _without_ids(replayed[1].output, new)
    for old, new in zip(by_decision[:3], by_frame[:3], strict=True):
        shown = [json.loads(run("audit", "show", i, "--format", "json", db=db).output) for i in (old, new)]
        assert (shown[0].pop("schema"), shown[1].pop("schema")) == (3, 4)
        for s in shown:
            del s["decision_id"], s["recorded_at"]
        assert shown[0] == shown[1]
        a, b = (replays.replay(db, i).to_dict() for i in (old, new))
        assert a["identical"] and b["identical"]
        for r in (a, b):
            del r["decision_id"]
        assert a == b
    account = audit.show(db, by_frame[0]).account
    runs = [i.rsplit("-", 1)[0] for i in (by_decision[0], by_frame[0])]
    explained = [run("audit", "explain", account, "--run", r, db=db) for r in runs]
    assert explained[0].exit_code == 0 and explained[0].output == explained[1].output


def test_list_filters_a_frame_run_like_a_decision_run(both):
    """audit list by run, account and fired rule finds the same decisions in both runs."""
    db, by_decision, by_frame = both
    runs = [i[0].rsplit("-", 1)[0] for i in (by_decision, by_frame)]
    entries = [audit.list_decisions(db, run=r) for r in runs]
    assert [e.account for e in entries[0]] == [e.account for e in entries[1]]
    assert [e.record.decision for e in entries[0]] == [e.record.decision for e in entries[1]]
    assert [e.record.kind for e in entries[1]][-1] == "portfolio"
    rule = entries[1][0].record.fired[0]
    for account, fired in ((entries[1][4].account, None), (None, rule)):
        found = [audit.list_decisions(db, account=account, rule=fired, run=r) for r in runs]
        assert found[1] and [e.account for e in found[0]] == [e.account for e in found[1]]
        assert all(account in (None, e.account) and (fired is None or fired in e.record.fired) for e in found[1])
    listed = json.loads(run("audit", "list", "--run", runs[1], "--limit", "0", "--format", "json", db=db).output)
    assert [x["decision_id"] for x in listed] == by_frame
    for r, ids in zip(runs, (by_decision, by_frame), strict=True):
        shown = run("audit", "list", "--run", r, "--limit", "5", db=db)
        assert f"and {len(ids) - 5:,} more" in shown.output and ids[4] in shown.output and ids[5] not in shown.output
    fired = run("audit", "list", "--rule", rule, "--limit", "1", db=db).output
    assert f"and {2 * len(found[1]) - 1:,} more" in fired


def test_a_long_frame_is_recorded_in_blocks_and_each_decision_shown(reviewed, tmp_path, monkeypatch):
    """A frame longer than a block is split; ids run on across blocks and after decisions added one by one."""
    ruleset, _, decisions, _ = reviewed
    monkeypatch.setattr(frames, "FRAME_BLOCK", 7)
    db = tmp_path / "log.sqlite"
    with audit.Recorder(db, ruleset, "portfolio") as rec:
        rec.add(decisions[:2])
        ids = rec.add_frame(frames.compact_frame(decisions, ruleset)).to_list()
    assert ids == [f"{rec.run}-{i}" for i in range(3, len(decisions) + 3)]
    assert len(blocks(db)) == 1 + -(-len(decisions) // 7) + 1 and audit_verify.verify(db).ok
    for i in (0, 6, 7, len(decisions) - 1):
        assert audit.show(db, ids[i]).compact == json.loads(chain.canonical(records.compact(decisions[i])))


def _flip_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def _edited(data: bytes, edit) -> bytes:
    return frames.encode(edit(frames.decode(data)))


def _more_trust(frame: pl.DataFrame) -> pl.DataFrame:
    trust = pl.col("given").struct.field("trust_score")
    first = pl.int_range(pl.len()) == 0
    return frame.with_columns(pl.col("given").struct.with_fields(pl.when(first).then(9.5).otherwise(trust)))


def _one_rule_less(frame: pl.DataFrame) -> pl.DataFrame:
    first = pl.int_range(pl.len()) == 0
    return frame.with_columns(fired=pl.when(first).then(pl.col("fired").list.slice(1)).otherwise("fired"))


@pytest.mark.parametrize(
    "change",
    [_flip_byte, lambda d: _edited(d, _more_trust), lambda d: _edited(d, _one_rule_less)],
    ids=["a byte", "a fact", "a fired rule"],
)
def test_verify_names_a_frame_block_whose_decisions_changed(both, tmp_path, change):
    """A byte, a fact or a fired rule changed in a frame-written block fails verify, naming the record."""
    db = copy(both[0], tmp_path)
    seq, _, data = frame_block(db)
    changed = change(data)
    assert changed != data
    tamper(db, "UPDATE blocks SET data = ? WHERE seq = ?", (changed, seq))
    v = audit_verify.verify(db)
    assert v.broken is not None and v.broken.seq == seq
    assert "altered (digest mismatch)" in v.broken.problem or "cannot be read" in v.broken.problem
    r = run("audit", "verify", db=db)
    assert r.exit_code == 1 and f"broken at record {seq}" in r.output


def test_a_changed_fact_with_its_digest_recomputed_breaks_the_chain(both, tmp_path):
    """Re-encoding an edited block and fixing its header's digest changes the header: the record's hash fails."""
    db = copy(both[0], tmp_path)
    seq, header, data = frame_block(db)
    changed = _edited(data, _more_trust)
    text = chain.canonical(header | {"digest": chain.sha256(changed)})
    tamper(db, "UPDATE blocks SET data = ?, header = ? WHERE seq = ?", (changed, text, seq))
    broken = audit_verify.verify(db).broken
    assert broken is not None and broken.seq == seq and "hash mismatch" in broken.problem


def test_a_block_that_is_not_a_decision_frame_says_its_decisions_cannot_be_read(both, tmp_path):
    """Data with a matching digest that is not Parquet, or not a frame of decisions, cannot be read: verify says so."""
    other = io.BytesIO()
    pl.DataFrame({"account": ["A"]}).write_parquet(other)
    for data in (b"not parquet at all", other.getvalue()):
        db = copy(both[0], tmp_path)
        seq, header, _ = frame_block(db)
        text = chain.canonical(header | {"digest": chain.sha256(data)})
        with sqlite3.connect(db) as conn:
            (prev,) = conn.execute("SELECT prev_hash FROM blocks WHERE seq = ?", (seq,)).fetchone()
        h = chain.link_hash(prev, text, seq)
        tamper(db, "UPDATE blocks SET data = ?, header = ?, hash = ? WHERE seq = ?", (data, text, h, seq))
        broken = audit_verify.verify(db).broken
        assert broken is not None and broken.seq == seq and "its decisions cannot be read" in broken.problem
        r = run("audit", "show", f"{header['run']}-1", db=db)
        assert r.exit_code == 3 and f"record {seq} cannot be read" in r.output
        (tmp_path / "copy.sqlite").unlink()


def test_evaluate_checks_a_frame_written_tail_without_polars(both, tmp_path):
    """The check before evaluate appends finds a changed frame block at the log's end, and never imports polars."""
    db = copy(both[0], tmp_path)
    code = (
        "import sys; from pathlib import Path; from kamrules.audit import verify; "
        f"print(verify.tail_problem(Path({str(db)!r}))); print('polars' in sys.modules)"
    )
    intact = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert intact.stdout.split("\n")[:2] == ["None", "False"]
    seq, _, data = frame_block(db)
    tamper(db, "UPDATE blocks SET data = ? WHERE seq = ?", (_flip_byte(data), seq))
    changed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert changed.stdout.startswith(f"record {seq}: its decisions were altered") and "False" in changed.stdout


def test_backtest_counts_each_change_once_per_run(both, tmp_path):
    """Backtest over the two runs finds every change of the decision run in the frame run too, decision for decision."""
    db, by_decision, by_frame = both
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    text = (rules / "designation.yaml").read_text()  # every account excluded as if its margin were negative
    (rules / "designation.yaml").write_text(
        text.replace("{fact: margin, op: lt, value: 0}", "{fact: margin, op: lt, value: 1.0e12}")
    )
    b = replays.backtest(db, str(rules))
    assert b.decisions == 2 * len(by_decision) - 2  # the portfolio decisions are not re-run
    place = {i: n for ids in (by_decision, by_frame) for n, i in enumerate(ids)}
    for kind, found in b.by_type.items():
        per_run = [
            sorted((place[x["decision_id"]], x["detail"]) for x in found if x["decision_id"] in ids)
            for ids in (set(by_decision), set(by_frame))
        ]
        assert per_run[0] == per_run[1], kind
    assert b.changed > 0 and b.changed % 2 == 0
