"""The log's SQLite file: where it lives, its tables, opening it to write (short, retried locks) or to read only."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kamrules.errors import InvalidInput, Span

ENV_VAR = "KAMRULES_AUDIT_DB"
# Relative to the current directory, so each project folder keeps its own log.
DEFAULT_PATH = Path(".kamrules") / "audit.sqlite"
# How long a writer waits for another writer's transaction (a batch, never a whole review) before it gives up.
LOCK_WAIT_S = 30.0
# Each try waits this long inside SQLite, then the writer sleeps a little and tries again.
_TRY_S = 1.0

_SCHEMA = [
    """
CREATE TABLE IF NOT EXISTS rulesets (
    version TEXT PRIMARY KEY,          -- the rule set's content hash (see docs/rule-language.md)
    files TEXT NOT NULL                -- canonical JSON list of [file name, text]
)""",
    # Schema 1 and 2: one row per decision with its full trace; read and verified, no longer written.
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
    # Schema 3: the chain continues here, one element per block of compact decisions or per run's end.
    """CREATE TABLE IF NOT EXISTS blocks (
    seq INTEGER PRIMARY KEY,           -- continues the numbering of the decisions table
    run TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    header TEXT NOT NULL,              -- canonical JSON, with the Merkle root of the block's decisions
    data BLOB,                         -- zlib of the decisions' canonical JSON lines (NULL for a run's end)
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT                           -- HMAC-SHA256 of hash with $KAMRULES_AUDIT_KEY, when set
)""",
    "CREATE INDEX IF NOT EXISTS decisions_account ON decisions(account)",
    "CREATE INDEX IF NOT EXISTS decisions_time ON decisions(recorded_at)",
    "CREATE INDEX IF NOT EXISTS blocks_run ON blocks(run)",
] + [
    # Append-only: kamrules never updates or deletes; these make accidents through SQL fail loudly too.
    f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
    "BEGIN SELECT RAISE(ABORT, 'the kamrules audit log is append-only'); END"
    for t in ("decisions", "rulesets", "blocks")
    for op in ("UPDATE", "DELETE")
]


def db_path(option: str | None) -> Path:
    """Where the log lives: --audit-db, else $KAMRULES_AUDIT_DB, else ./.kamrules/audit.sqlite."""
    return Path(option or os.environ.get(ENV_VAR) or DEFAULT_PATH)


def problem(path: Path, message: str, help: str | None = None) -> InvalidInput:
    """An error about the log file itself (exit 3)."""
    return InvalidInput.at(Span(str(path)), message, help=help, code="audit")


@contextmanager
def connect(path: Path, write: bool = False) -> Iterator[sqlite3.Connection]:
    """The log, opened to append (created when absent) or to read only (works on a read-only file and folder)."""
    conn = open_log(path, write)
    try:
        with problems_of(path):
            yield conn
    finally:
        conn.close()


def open_log(path: Path, write: bool = False) -> sqlite3.Connection:
    """The log opened as ``connect`` opens it, for a caller that keeps it open (and closes it)."""
    if not write and not path.is_file():
        raise problem(
            path,
            "no audit log here",
            help=f"record decisions with 'kamrules evaluate', or point --audit-db / {ENV_VAR} at the log",
        )
    if path.is_dir():
        raise problem(path, "is a folder, not an audit log file")
    conn = _open(path, write)
    try:
        with problems_of(path):
            if write:
                _create(conn)
            if not {"decisions", "rulesets"} <= tables(conn):
                raise problem(path, "not a kamrules audit log (no decisions table)")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def problems_of(path: Path) -> Iterator[None]:
    """SQLite's errors on the log as problems of the log (exit 3)."""
    try:
        yield
    except LockTimeout as e:
        raise problem(path, str(e), help="nothing more was recorded or shown; run the command again later") from None
    except sqlite3.DatabaseError as e:
        raise problem(path, f"cannot use the audit log: {e}") from None


def _open(path: Path, write: bool) -> sqlite3.Connection:
    try:
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are begun explicitly, one short one per batch.
            conn = sqlite3.connect(str(path), timeout=_TRY_S, isolation_level=None)
        else:
            conn = _open_read_only(path)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except (OSError, sqlite3.Error) as e:
        raise problem(
            path,
            f"cannot open the audit log: {e}",
            help="point --audit-db or KAMRULES_AUDIT_DB at a writable file, or use --no-audit",
        ) from None


def _open_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    # A log in WAL mode needs its -shm file, which a read-only folder cannot hold. When no writer has left a
    # -wal file behind, every committed record is in the main file and it can be read as immutable.
    if Path(f"{path}-wal").exists():
        raise sqlite3.OperationalError(
            "it is read-only and a writer left its -wal file beside it (records not yet in the main file)"
        )
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)


def tables(conn: sqlite3.Connection) -> set[str]:
    """The names of the tables in the file."""
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _create(conn: sqlite3.Connection) -> None:
    names = tables(conn)
    # A complete log, or another program's database (left alone: connect says it is not a log).
    if {"decisions", "rulesets", "blocks"} <= names or (names and not {"decisions", "rulesets"} <= names):
        return
    # Two processes may create the log at once: the write lock decides, and the loser finds the tables made.
    with transaction(conn):
        for statement in _SCHEMA:
            conn.execute(statement)
    _use_wal(conn)


def _use_wal(conn: sqlite3.Connection) -> None:
    # WAL lets readers run while a writer appends. Switching to it needs the database to itself and
    # SQLite does not wait for that (no busy timeout), so wait here while another process works.
    _retrying(conn, "PRAGMA journal_mode = WAL", 0.02)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One short write transaction: the lock is taken (retried for LOCK_WAIT_S) before anything is read."""
    _begin(conn)
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class LockTimeout(sqlite3.OperationalError):
    """Another writer held the log for longer than LOCK_WAIT_S."""


def _begin(conn: sqlite3.Connection) -> None:
    # IMMEDIATE takes the write lock before the chain head is read, so writers queue and the chain stays linear.
    _retrying(conn, "BEGIN IMMEDIATE", 0.05)


def _retrying(conn: sqlite3.Connection, statement: str, pause: float) -> None:
    """Run a statement that fails while another process holds the log, trying again for LOCK_WAIT_S."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            conn.execute(statement)
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"another process kept the audit log locked for more than {LOCK_WAIT_S:g} s"
                ) from None
            time.sleep(pause)
