"""A log you can trust: checkpoints, keyed records, no lost decision under concurrency, read-only and damaged logs."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kamrules import Evaluator, load_account, load_ruleset
from kamrules.audit import chain, records, store
from kamrules.audit import log as audit
from kamrules.audit import verify as audit_verify
from kamrules.cli import main

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXAMPLES = sorted((ROOT / "examples" / "accounts").glob("*.yaml"))
VENETA = ROOT / "examples" / "accounts" / "distribuzione-alimentare-veneta.yaml"
KEY = "k" * 32


def run(*args: str, db: Path, key: str | None = None):
    """Run the CLI with the log at `db` (and the audit key, when given)."""
    env = {audit.ENV_VAR: str(db), chain.KEY_VAR: key}
    return CliRunner().invoke(main, [*args], env=env)


def evaluate(db: Path, *accounts: Path, key: str | None = None) -> None:
    """One evaluate run, recorded."""
    r = run("evaluate", "--rules", str(RULES), *map(str, accounts or (VENETA,)), db=db, key=key)
    assert r.exit_code == 0, r.output


def rows(db: Path) -> list[tuple]:
    """The chain records as stored: seq, header, data, prev_hash, hash, mac."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT seq, header, data, prev_hash, hash, mac FROM blocks ORDER BY seq").fetchall()


def rewrite(db: Path, statements: list[tuple[str, tuple]]) -> None:
    """Change the log behind kamrules' back, as someone with the file would (triggers dropped first)."""
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER blocks_no_update")
    conn.execute("DROP TRIGGER blocks_no_delete")
    for sql, args in statements:
        conn.execute(sql, args)
    conn.commit()
    conn.close()


def raise_trust(decision: dict) -> None:
    decision["given"]["trust_score"] = 9.5


def rechain(db: Path, edit_seq: int, edit=raise_trust) -> None:
    """Edit a decision of record `edit_seq`, then recompute its digest, its run's root and every later hash."""
    updates, prev, roots = [], chain.GENESIS, {}
    for seq, header, data, _, h, _ in rows(db):
        head = json.loads(header)
        if seq == edit_seq:
            decisions = records.unpack(data)[0]
            edit(decisions[0])
            data, head["digest"] = records.pack(decisions)
        if head["type"] == "end":
            head["root"] = chain.merkle_root(roots.pop(head["run"]))
        else:
            roots.setdefault(head["run"], []).append(head["digest"])
        header = chain.canonical(head)
        if seq >= edit_seq:
            h = chain.link_hash(prev, header, seq)
            sql = "UPDATE blocks SET header = ?, data = ?, prev_hash = ?, hash = ? WHERE seq = ?"
            updates.append((sql, (header, data, prev, h, seq)))
        prev = h
    rewrite(db, updates)


def take_checkpoint(db: Path, tmp_path: Path) -> Path:
    """`audit checkpoint --output` into a file outside the log."""
    file = tmp_path / "checkpoint.json"
    r = run("audit", "checkpoint", "--output", str(file), db=db)
    assert r.exit_code == 0 and "record(s), last hash" in r.output
    return file


def test_truncation_is_detected_with_a_checkpoint(tmp_path):
    """Removing the newest records passes a plain verify, but not a verify against a checkpoint taken before."""
    db = tmp_path / "log.sqlite"
    evaluate(db)
    evaluate(db)
    cp = take_checkpoint(db, tmp_path)
    rewrite(db, [("DELETE FROM blocks WHERE seq > ?", (2,))])
    assert run("audit", "verify", db=db).exit_code == 0  # the limitation a checkpoint removes
    r = run("audit", "verify", "--checkpoint", str(cp), db=db)
    assert r.exit_code == 1 and "truncated or rolled back" in r.output and "has 4" in r.output


def test_rollback_to_an_older_copy_is_detected_with_a_checkpoint(tmp_path):
    """Putting back an older copy of the log file is detected against a later checkpoint."""
    db = tmp_path / "log.sqlite"
    evaluate(db)
    shutil.copy(db, tmp_path / "old.sqlite")
    evaluate(db)
    cp = take_checkpoint(db, tmp_path)
    shutil.copy(tmp_path / "old.sqlite", db)
    r = run("audit", "verify", "--checkpoint", str(cp), db=db)
    assert r.exit_code == 1 and "truncated or rolled back" in r.output


def test_rechaining_is_detected_with_a_checkpoint(tmp_path):
    """An edited decision with every later hash recomputed passes a plain verify, not one against a checkpoint."""
    db = tmp_path / "log.sqlite"
    evaluate(db)
    evaluate(db)
    cp = take_checkpoint(db, tmp_path)
    rechain(db, 1)
    assert run("audit", "verify", db=db).exit_code == 0
    r = run("audit", "verify", "--checkpoint", str(cp), db=db)
    assert r.exit_code == 1 and "record 4" in r.output and "rewritten (re-chained)" in r.output


def test_a_log_growing_after_the_checkpoint_still_matches_it(tmp_path):
    """Records appended after a checkpoint do not break it: the checkpoint's record keeps its hash."""
    db = tmp_path / "log.sqlite"
    evaluate(db)
    cp = take_checkpoint(db, tmp_path)
    evaluate(db)
    r = run("audit", "verify", "--checkpoint", str(cp), db=db)
    assert r.exit_code == 0 and "checkpoint: record 2 matches" in r.output


def test_a_file_that_is_not_a_checkpoint_is_invalid_input(tmp_path):
    """A checkpoint file that is not one is exit 3 naming the file and what was expected."""
    db = tmp_path / "log.sqlite"
    evaluate(db)
    bad = tmp_path / "cp.json"
    bad.write_text('{"records": "many"}')
    r = run("audit", "verify", "--checkpoint", str(bad), db=db)
    assert r.exit_code == 3 and f"{bad}: error: not a kamrules audit checkpoint" in r.output


def test_rechaining_without_the_key_is_detected(tmp_path):
    """With keyed records, an edit re-chained by someone without the key fails verify with the key."""
    db = tmp_path / "log.sqlite"
    evaluate(db, key=KEY)
    evaluate(db, key=KEY)
    assert run("audit", "verify", db=db, key=KEY).exit_code == 0
    rechain(db, 3)
    r = run("audit", "verify", db=db, key=KEY)
    assert r.exit_code == 1 and "record 3" in r.output and "MAC does not match" in r.output


def test_a_forged_record_is_detected_with_the_key(tmp_path):
    """A record appended with a correct hash but no valid MAC fails verify with the key; without it, it passes."""
    db = tmp_path / "log.sqlite"
    evaluate(db, key=KEY)
    _, header, data, *_ = rows(db)[0]
    head = json.loads(header) | {"run": "f" * 16}
    forged = chain.canonical(head)
    rows_now = rows(db)
    last = rows_now[-1]
    new = chain.link_hash(last[4], forged, last[0] + 1)
    rewrite(
        db,
        [
            (
                "INSERT INTO blocks(seq, run, recorded_at, header, data, prev_hash, hash, mac) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (last[0] + 1, "f" * 16, head["recorded_at"], forged, data, last[4], new, "0" * 64),
            )
        ],
    )
    plain = run("audit", "verify", db=db)
    assert plain.exit_code == 0 and "carry a MAC, not checked" in plain.output
    r = run("audit", "verify", db=db, key=KEY)
    assert r.exit_code == 1 and f"record {last[0] + 1}" in r.output and "forged" in r.output


def test_verify_with_another_key_says_so(tmp_path):
    """Records made with one key fail verify with another, which says the key differs."""
    db = tmp_path / "log.sqlite"
    evaluate(db, key=KEY)
    r = run("audit", "verify", db=db, key="x" * 32)
    assert r.exit_code == 1 and "recorded with another key" in r.output


def test_a_short_key_is_refused(tmp_path):
    """A key shorter than 16 bytes is exit 3, and no decision is shown or recorded."""
    db = tmp_path / "log.sqlite"
    r = run("evaluate", "--rules", str(RULES), str(VENETA), db=db, key="secret")
    assert r.exit_code == 3 and "audit key is too short" in r.output and not db.exists()
    assert "key account" not in r.output


# A real portfolio review that stops after its first recorded batch until the test says go.
PAUSED_REVIEW = """
import sys, time
from pathlib import Path
from kamrules.audit import log
from kamrules.cli import main
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
add = log.Recorder.add
def paused(self, decisions, *args, **kw):
    add(self, decisions, *args, **kw)
    if not ready.exists():
        ready.touch()
        while not go.exists():
            time.sleep(0.01)
log.Recorder.add = paused
main(sys.argv[3:])
"""


def test_an_evaluate_during_a_portfolio_review_is_recorded(tmp_path):
    """An evaluate started while a review is between batches is recorded at once, inside the review's run."""
    db, ready, go = tmp_path / "log.sqlite", tmp_path / "ready", tmp_path / "go"
    args = ["portfolio", str(ROOT / "examples" / "portfolio.csv"), "--rules", str(RULES), "--audit-db", str(db)]
    review = subprocess.Popen(
        [sys.executable, "-c", PAUSED_REVIEW, str(ready), str(go), *args], stdout=subprocess.DEVNULL
    )
    try:
        while not ready.exists():
            assert review.poll() is None, "the review ended before its first batch"
            time.sleep(0.01)
        r = run("evaluate", "--rules", str(RULES), str(VENETA), "--format", "json", db=db)
        assert r.exit_code == 0, r.output
        decision_id = json.loads(r.stdout)["decision_id"]
    finally:
        go.touch()
        assert review.wait(timeout=120) == 0
    entries = audit.list_decisions(db, account="IT-VE-0088")
    assert decision_id in [e.decision_id for e in entries]
    heads = [(seq, json.loads(header)["run"], json.loads(header)["type"]) for seq, header, *_ in rows(db)]
    review_run = heads[0][1]
    evaluated = next(seq for seq, run_id, _ in heads if run_id != review_run)
    review_end = next(seq for seq, run_id, kind in heads if run_id == review_run and kind == "end")
    assert heads[0][0] < evaluated < review_end  # recorded while the review's run was open
    assert audit_verify.verify(db).ok


def test_a_writer_that_cannot_get_the_lock_fails_before_showing_a_decision(tmp_path, monkeypatch):
    """While another process holds the write lock, evaluate retries, then exits 3 and shows no decision."""
    db = tmp_path / "log.sqlite"
    evaluate(db)
    monkeypatch.setattr(store, "LOCK_WAIT_S", 0.5)
    monkeypatch.setattr(store, "_TRY_S", 0.1)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = run("evaluate", "--rules", str(RULES), str(VENETA), db=db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.exit_code == 3 and "kept the audit log locked" in r.output
    assert "key account" not in r.output and "Traceback" not in r.output
    assert len(audit.list_decisions(db)) == 1


def _read_only_copy(db: Path) -> Path:
    """A copy of the log as a read-only file in a read-only folder that the process cannot write."""
    folder = Path(tempfile.mkdtemp(prefix="kamrules-ro-"))
    copy = folder / "audit.sqlite"
    shutil.copy(db, copy)
    copy.chmod(0o444)
    folder.chmod(0o555)
    return copy


def _without_override() -> None:
    """Drop the capabilities that let root write read-only files (CAP_DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP: the program run next never gets it
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _as_reader(*args: str) -> subprocess.CompletedProcess[str]:
    """Run kamrules so that file permissions hold, even when the tests run as root."""
    drop = _without_override if os.geteuid() == 0 else None
    return subprocess.run(
        [sys.executable, "-c", "from kamrules.cli import main; main()", *args],
        capture_output=True,
        text=True,
        preexec_fn=drop,
        cwd=ROOT,
    )


def test_verify_and_list_work_on_a_read_only_log_in_a_read_only_folder(tmp_path):
    """An auditor with read access only can verify and list the log; nothing is written beside it."""
    db = tmp_path / "log.sqlite"
    evaluate(db)
    evaluate(db, EXAMPLES[0])
    copy = _read_only_copy(db)
    try:
        v = _as_reader("audit", "verify", "--audit-db", str(copy))
        assert v.returncode == 0, v.stderr
        assert "intact: 2 decision(s)" in v.stdout
        listed = _as_reader("audit", "list", "--audit-db", str(copy))
        assert listed.returncode == 0 and "IT-VE-0088" in listed.stdout
        assert sorted(p.name for p in copy.parent.iterdir()) == ["audit.sqlite"]
    finally:
        copy.parent.chmod(0o755)
        shutil.rmtree(copy.parent)


def test_a_damaged_page_is_a_failed_check_naming_the_records(tmp_path):
    """Overwriting pages in the middle of the file makes verify exit 1 naming the records that cannot be read."""
    db = tmp_path / "log.sqlite"
    for _ in range(40):
        evaluate(db, *EXAMPLES)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    with db.open("r+b") as f:
        for n in range(pages // 2, pages // 2 + 3):
            f.seek(n * page)
            f.write(b"\xa5" * page)
    r = run("audit", "verify", db=db)
    assert r.exit_code == 1, r.output
    assert "audit log" in r.output and "broken at record" in r.output and "Traceback" not in r.output


def test_evaluate_warns_when_the_log_end_does_not_verify(tmp_path):
    """evaluate says so on stderr before appending to a log whose last record was altered, and still records."""
    db = tmp_path / "log.sqlite"
    evaluate(db)
    seq, header, *_ = rows(db)[-1]
    rewrite(db, [("UPDATE blocks SET header = ? WHERE seq = ?", (header.replace('"complete"', '"aborted"'), seq))])
    r = CliRunner().invoke(main, ["evaluate", "--rules", str(RULES), str(VENETA)], env={audit.ENV_VAR: str(db)})
    assert r.exit_code == 0
    assert "warning: the audit log" in r.stderr and f"record {seq}" in r.stderr
    assert len(audit.list_decisions(db)) == 2


@pytest.mark.parametrize(
    ("column", "value"),
    [("header", b"{}"), ("prev_hash", b"\x00"), ("hash", b"\x00"), ("mac", b"\x00"), ("data", "text, not bytes")],
)
def test_a_column_of_the_wrong_type_is_a_broken_record(tmp_path, column, value):
    """A value of another type stored in a column (SQLite allows it) fails verify naming the record, never exit 4."""
    db = tmp_path / "log.sqlite"
    evaluate(db)
    rewrite(db, [(f"UPDATE blocks SET {column} = ? WHERE seq = 1", (value,))])
    r = run("audit", "verify", db=db)
    assert r.exit_code == 1 and "record 1" in r.output, r.output
    assert run("audit", "list", db=db).exit_code in (0, 3)


def test_show_and_replay_say_when_a_recorded_outcome_does_not_follow_from_its_facts(tmp_path):
    """A re-chained outcome that the recorded facts and rules do not give: show says it differs, replay exits 1."""
    db = tmp_path / "log.sqlite"
    evaluate(db)

    def advance(decision: dict) -> None:
        decision["stage"] |= {"recommended": "mid-KAM", "move": "advance"}

    rechain(db, 1, advance)
    assert run("audit", "verify", db=db).exit_code == 0  # consistent hashes: only recomputing tells
    (entry,) = audit.list_decisions(db)
    shown = run("audit", "show", entry.decision_id, db=db)
    assert shown.exit_code == 0 and "IT DIFFERS from the recorded outcome" in shown.output
    replayed = run("audit", "replay", entry.decision_id, db=db)
    assert replayed.exit_code == 1 and "recommended stage changed: mid-KAM → early-KAM" in replayed.output


def test_a_run_stopped_halfway_keeps_what_it_recorded(tmp_path):
    """A run killed after a batch keeps that batch (it may have been shown); verify passes and names the run."""
    db = tmp_path / "log.sqlite"
    rs = load_ruleset(RULES)
    with Evaluator(rs) as ev:
        decision = ev.evaluate(load_account(VENETA, rs))
    killed = audit.Recorder(db, rs, "portfolio")
    killed.add([decision])  # and the process dies: no end is written
    with pytest.raises(RuntimeError), audit.Recorder(db, rs, "portfolio") as failed:
        failed.add([decision])
        raise RuntimeError("the review failed after its first batch")
    v = audit_verify.verify(db)
    assert v.ok and v.decisions == 2 and v.unfinished == (killed.run,)
    assert json.loads(rows(db)[-1][1])["status"] == "aborted"
    r = run("audit", "verify", db=db)
    assert r.exit_code == 0 and f"without an end (stopped or still running): {killed.run}" in r.output


@pytest.mark.parametrize("size", [0, 1, 64 * 1024 - 1, 64 * 1024, 200_000])
def test_hashes_are_sha256_whichever_implementation_hashes_them(size: int) -> None:
    """Short data is hashed without OpenSSL, long data with it: the digests are SHA-256's either way."""
    import hashlib

    data = os.urandom(size)
    assert chain.sha256(data) == hashlib.sha256(data).hexdigest()
    assert chain.sha256(data.hex()) == hashlib.sha256(data.hex().encode()).hexdigest()
    leaves = [hashlib.sha256(bytes([i])).hexdigest() for i in range(5)]
    nodes = [hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest() for h in leaves]
    while len(nodes) > 1:
        pairs = [hashlib.sha256(b"\x01" + a + b).digest() for a, b in zip(nodes[::2], nodes[1::2], strict=False)]
        nodes = pairs + ([nodes[-1]] if len(nodes) % 2 else [])
    assert chain.merkle_root(leaves) == nodes[0].hex()
