"""The decision log: an append-only, hash-chained SQLite store of every decision; record, list, show, verify."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from kamrules.audit.records import Record, decision_record, read_record
from kamrules.engine import Decision
from kamrules.errors import CheckFailed, InvalidInput, Span
from kamrules.lang import RuleSet, ruleset_version

ENV_VAR = "KAMRULES_AUDIT_DB"
# Relative to the current directory, so each project folder keeps its own log.
DEFAULT_PATH = Path(".kamrules") / "audit.sqlite"
GENESIS = "0" * 64
BUSY_TIMEOUT_S = 30.0

_SCHEMA = [
    """
CREATE TABLE IF NOT EXISTS rulesets (
    version TEXT PRIMARY KEY,          -- the rule set's content hash (see docs/rule-language.md)
    files TEXT NOT NULL                -- canonical JSON list of [file name, text]
)""",
    """CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE,
    recorded_at TEXT NOT NULL,
    account TEXT NOT NULL,
    rules_version TEXT NOT NULL,
    kamrules_version TEXT NOT NULL,
    record TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS decisions_account ON decisions(account)",
    "CREATE INDEX IF NOT EXISTS decisions_time ON decisions(recorded_at)",
] + [
    # Append-only: kamrules never updates or deletes; these make accidents through SQL fail loudly too.
    f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
    "BEGIN SELECT RAISE(ABORT, 'the kamrules audit log is append-only'); END"
    for t in ("decisions", "rulesets")
    for op in ("UPDATE", "DELETE")
]


def canonical(data: Any) -> str:
    """The one JSON text a record is hashed and stored as."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, record: str, decision_id: str, recorded_at: str, seq: int) -> str:
    """sha256(prev_hash + record + decision_id + recorded_at + seq), fields joined by a unit separator."""
    text = "\x1f".join([prev_hash, record, decision_id, recorded_at, str(seq)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def db_path(option: str | None) -> Path:
    """Where the log lives: --audit-db, else $KAMRULES_AUDIT_DB, else ./.kamrules/audit.sqlite."""
    return Path(option or os.environ.get(ENV_VAR) or DEFAULT_PATH)


def _problem(path: Path, message: str, help: str | None = None) -> InvalidInput:
    return InvalidInput.at(Span(str(path)), message, help=help, code="audit")


@contextmanager
def _connect(path: Path, create: bool = False) -> Iterator[sqlite3.Connection]:
    if not create and not path.is_file():
        raise _problem(
            path,
            "no audit log here",
            help=f"record decisions with 'kamrules evaluate', or point --audit-db / {ENV_VAR} at the log",
        )
    if path.is_dir():
        raise _problem(path, "is a folder, not an audit log file")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so the whole run is one transaction.
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except (OSError, sqlite3.Error) as e:
        raise _problem(
            path,
            f"cannot open the audit log: {e}",
            help="point --audit-db or KAMRULES_AUDIT_DB at a writable file, or use --no-audit",
        ) from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        names = _tables(conn)
        if create and not names:
            # Two processes may create the log at once: the write lock decides, and the loser finds
            # the tables made when it gets the lock.
            conn.execute("BEGIN IMMEDIATE")
            if not _tables(conn):
                for statement in _SCHEMA:
                    conn.execute(statement)
            conn.execute("COMMIT")
            _use_wal(conn)
            names = _tables(conn)
        if not {"decisions", "rulesets"} <= names:
            raise _problem(path, "not a kamrules audit log (no decisions table)")
        yield conn
    except sqlite3.DatabaseError as e:
        raise _problem(path, f"cannot use the audit log: {e}") from None
    finally:
        conn.close()


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _use_wal(conn: sqlite3.Connection) -> None:
    # WAL lets readers run while a writer appends. Switching to it needs the database to itself and
    # SQLite does not wait for that (no busy timeout), so wait here while another process works.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


# ---------------------------------------------------------------------------- recording


class Recorder:
    """Appends one run's decisions to the log in a single transaction, batch by batch."""

    def __init__(self, path: Path, ruleset: RuleSet, command: str) -> None:
        self.path, self.ruleset, self.command = path, ruleset, command
        self.ids: list[str] = []

    def __enter__(self) -> Recorder:
        self._cm = _connect(self.path, create=True)
        self._conn = self._cm.__enter__()
        # IMMEDIATE takes the write lock before we read the chain head, so concurrent writers queue
        # up behind each other and the chain stays linear.
        self._conn.execute("BEGIN IMMEDIATE")
        self._store(self.ruleset)
        row = self._conn.execute("SELECT seq, hash FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
        self._seq: int = row[0] if row else 0
        self._prev: str = row[1] if row else GENESIS
        return self

    def _store(self, ruleset: RuleSet) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO rulesets(version, files) VALUES (?, ?)",
            (ruleset.version, canonical([list(f) for f in ruleset.files])),
        )

    def add(self, decisions: Sequence[Decision], ruleset: RuleSet | None = None, kind: str = "account") -> None:
        """Append decisions of one kind ("account" or "portfolio") to the chain, committed when the run ends well.

        ``ruleset``: the rule set the decisions were made with, when it is not the run's own (the portfolio rules).
        """
        if ruleset is not None:
            self._store(ruleset)
        rows = []
        for decision in decisions:
            self._seq += 1
            did = uuid.uuid4().hex
            at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
            rec = decision_record(decision, did, at, self.command, kind)
            text = canonical(rec.to_dict())
            h = chain_hash(self._prev, text, did, at, self._seq)
            rows.append((self._seq, did, at, rec.account, rec.rules_version, rec.kamrules_version, text, self._prev, h))
            self._prev = h
            self.ids.append(did)
        self._conn.executemany(
            "INSERT INTO decisions(seq, decision_id, recorded_at, account, rules_version, "
            "kamrules_version, record, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._cm.__exit__(exc_type, exc, tb)


def record(
    path: Path, decisions: Sequence[Decision], ruleset: RuleSet, command: str = "evaluate", kind: str = "account"
) -> list[str]:
    """Append a run's decisions in one transaction; returns their decision ids."""
    with Recorder(path, ruleset, command) as rec:
        rec.add(decisions, kind=kind)
    return rec.ids


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Entry:
    """One stored decision: its chain position and its record."""

    seq: int
    decision_id: str
    recorded_at: str
    account: str
    rules_version: str
    record: Record


_COLUMNS = "seq, decision_id, recorded_at, account, rules_version, record"


def _entry(path: Path, row: tuple[int, str, str, str, str, str]) -> Entry:
    seq, did, at, account, version, text = row
    try:
        rec = read_record(json.loads(text))
    except ValueError as e:
        raise _problem(path, f"record {seq} (decision {did}) cannot be read: {e}") from None
    return Entry(seq, did, at, account, version, rec)


def list_decisions(
    path: Path, account: str | None = None, since: str | None = None, rule: str | None = None
) -> list[Entry]:
    """Recorded decisions, oldest first, filtered by account, time (ISO date or datetime, UTC) and fired rule."""
    where, args = [], []
    if account:
        where.append("account = ?")
        args.append(account)
    if since:
        where.append("recorded_at >= ?")
        args.append(since)
    sql = f"SELECT {_COLUMNS} FROM decisions" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
    with _connect(path) as conn:
        entries = [_entry(path, r) for r in conn.execute(sql, args)]
    if rule:
        entries = [e for e in entries if rule in e.record.fired]
    return entries


def show(path: Path, decision_id: str) -> Entry:
    """One decision by id (or a unique prefix of at least 6 characters)."""
    with _connect(path) as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM decisions WHERE decision_id = ?", (decision_id,)).fetchall()
        if not rows and len(decision_id) >= 6:
            like = decision_id.replace("%", "").replace("_", "") + "%"
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM decisions WHERE decision_id LIKE ? LIMIT 2", (like,)
            ).fetchall()
    if len(rows) != 1:
        what = "no decision" if not rows else "more than one decision"
        raise _problem(path, f"{what} with id '{decision_id}'", help="list decisions with 'kamrules audit list'")
    return _entry(path, rows[0])


def recorded_files(path: Path, version: str) -> list[tuple[str, str]]:
    """The rule files' text recorded for a rule set version."""
    with _connect(path) as conn:
        row = conn.execute("SELECT files FROM rulesets WHERE version = ?", (version,)).fetchone()
    if row is None:
        raise _problem(path, f"rule set version {version[:12]} is not in the log")
    return [(name, text) for name, text in json.loads(row[0])]


# ---------------------------------------------------------------------------- verify


class Broken(NamedTuple):
    """Where the chain breaks: the record (seq and decision id; None for the rule sets) and what is wrong."""

    seq: int | None
    decision_id: str | None
    problem: str


@dataclass(frozen=True)
class Verification:
    """The outcome of walking the chain: how many records, and the first broken one if any."""

    records: int
    rulesets: int
    broken: Broken | None = None

    @property
    def ok(self) -> bool:
        """True when the whole log is intact."""
        return self.broken is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "records": self.records,
            "rulesets": self.rulesets,
            "broken": self.broken._asdict() if self.broken else None,
        }


def verify(path: Path) -> Verification:
    """Walk the chain from the first record; report the first edited, missing or reordered record."""
    with _connect(path) as conn:
        rulesets = conn.execute("SELECT version, files FROM rulesets ORDER BY version").fetchall()
        problem = _rulesets_problem(rulesets)
        if problem:
            return Verification(0, len(rulesets), Broken(None, None, problem))
        versions = {version for version, _ in rulesets}
        rows = conn.execute(
            "SELECT seq, decision_id, recorded_at, account, rules_version, kamrules_version, "
            "record, prev_hash, hash FROM decisions ORDER BY seq"
        )
        prev, n = GENESIS, 0
        for row in rows:
            problem = _row_problem(row, prev, n + 1, versions)
            if problem:
                return Verification(n, len(rulesets), Broken(row[0], row[1], problem))
            prev, n = row[-1], n + 1
    return Verification(n, len(rulesets))


def _rulesets_problem(rulesets: list[tuple[str, str]]) -> str | None:
    for version, files in rulesets:
        try:
            actual = ruleset_version(json.loads(files))
        except (ValueError, TypeError):
            actual = None
        if actual != version:
            return f"the recorded text of rule set {version[:12]} was altered (hash mismatch)"
    return None


def _row_problem(row: tuple[Any, ...], prev: str, expected_seq: int, versions: set[str]) -> str | None:
    """What is wrong with one stored record, given the hash of the one before it, or None."""
    seq, did, at, account, version, kversion, text, prev_hash, h = row
    if seq != expected_seq:
        return (
            f"record {expected_seq}"
            + (f"..{seq - 1}" if seq - 1 > expected_seq else "")
            + f" is missing: the chain jumps from {expected_seq - 1} to {seq}"
        )
    if prev_hash != prev:
        return "its link to the previous record is wrong (a record before it was removed, replaced or reordered)"
    if chain_hash(prev_hash, text, did, at, seq) != h:
        return "its content was altered or moved (hash mismatch)"
    try:
        data = json.loads(text)
    except ValueError:
        return "its record is not valid JSON"
    try:
        rec = read_record(data)
    except ValueError as e:
        return f"its record cannot be read: {e}"
    in_record = (rec.decision_id, rec.recorded_at, rec.account, rec.rules_version, rec.kamrules_version)
    if in_record != (did, at, account, version, kversion):
        return "its columns disagree with its record (a column was altered)"
    if version not in versions:
        return f"its rule set {version[:12]} is missing from the log"
    return None


def check(path: Path) -> Verification:
    """verify(), raising CheckFailed naming the first broken record."""
    v = verify(path)
    b = v.broken
    if b is not None:
        where = f"record {b.seq} (decision {b.decision_id})" if b.seq else "rule sets"
        raise CheckFailed(
            f"audit log {path} is broken at {where}: {b.problem}; {v.records} record(s) before it are intact"
        )
    return v
