"""The decision log: record runs in hash-chained blocks of compact decisions; list and show decisions."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kamrules import __version__
from kamrules.audit.chain import GENESIS, audit_key, canonical, key_id, link_hash, mac, merkle_root, sha256
from kamrules.audit.records import KINDS, Record, compact, compact_record, pack, read_record, unpack
from kamrules.audit.store import ENV_VAR, connect, db_path, problem, problems_of, tables, transaction
from kamrules.engine import Decision
from kamrules.errors import KamrulesError
from kamrules.lang import RuleSet

if TYPE_CHECKING:  # polars is imported when a frame is recorded or read: `evaluate` starts without it
    import polars as pl

__all__ = ["ENV_VAR", "Entry", "Recorder", "count_decisions", "db_path", "head", "iter_decisions", "list_decisions"]
__all__ += ["record", "show"]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """The last chain position and its hash (0 and the genesis hash for an empty log)."""
    present = tables(conn)
    for table in (t for t in ("blocks", "decisions") if t in present):
        row = conn.execute(f"SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1").fetchone()
        if row:
            return row[0], row[1]
    return 0, GENESIS


# ---------------------------------------------------------------------------- recording


@functools.lru_cache(maxsize=16)  # a service's commits store the same rule set again and again (60 KB of JSON)
def _files_text(files: tuple[tuple[str, str], ...]) -> str:
    return canonical([list(f) for f in files])


class Recorder:
    """Appends one run's decisions to the log: one short transaction per batch, then the run's end.

    No lock is held between batches, so an ``evaluate`` started during a long review is recorded too; a batch
    is committed before ``add`` returns, so a decision shown after it is a decision recorded. ``at_once``: the
    batches and the run's end are committed together when the run ends, in one transaction (a group commit).
    """

    def __init__(
        self, path: Path, ruleset: RuleSet, command: str, at_once: bool = False, conn: sqlite3.Connection | None = None
    ) -> None:
        self.path, self.ruleset, self.command = path, ruleset, command
        self._conn = conn  # the log kept open by the caller (store.open_log), else opened for each write
        self._pending: list[tuple[dict[str, Any], bytes | None, RuleSet | None]] | None = [] if at_once else None
        self.run = uuid.uuid4().hex[:16]
        self.ids: list[str] = []  # of the decisions recorded through add(); add_frame() returns its own
        self.count = 0  # decisions recorded in this run so far
        self._key = audit_key()
        self._digests: list[str] = []

    def __enter__(self) -> Recorder:
        return self

    def add(self, decisions: Sequence[Decision], ruleset: RuleSet | None = None, kind: str = "account") -> None:
        """Append decisions of one kind ("account" or "portfolio") as one block, committed before this returns.

        ``ruleset``: the rule set the decisions were made with, when it is not the run's own (the portfolio rules).
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if not decisions:
            return
        data, digest = pack([compact(d) for d in decisions])
        first = self._block(data, digest, len(decisions), 3, ruleset or self.ruleset, kind)
        self.ids.extend(f"{self.run}-{first + i}" for i in range(1, len(decisions) + 1))

    def add_frame(self, frame: pl.DataFrame, ruleset: RuleSet | None = None, kind: str = "account") -> pl.Series:
        """Append a compact decision frame (audit/frames.py) as Parquet blocks; returns the decisions' ids.

        Each block is committed before the next is encoded; no decision becomes a Python object on the way.
        """
        from concurrent.futures import ThreadPoolExecutor  # only frames are written by two threads

        from kamrules.audit import frames

        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        rs = ruleset or self.ruleset
        problem = frames.frame_problem(frame, rs)
        if problem:
            raise ValueError(f"not a compact decision frame of rule set {rs.version[:12]}: {problem}")
        first = self.count
        slices = [frame.slice(offset, frames.FRAME_BLOCK) for offset in range(0, frame.height, frames.FRAME_BLOCK)]
        # The next block is encoded while this one is written: polars and SQLite both release the GIL, and
        # writing (WAL, fsync) is mostly waiting on the disk. At most two encoded blocks are held at a time.
        with ThreadPoolExecutor(max_workers=1) as pool:
            encoded = [pool.submit(frames.encode, part) for part in slices[:1]]
            for i, part in enumerate(slices):
                data = encoded.pop().result()
                encoded.extend(pool.submit(frames.encode, after) for after in slices[i + 1 : i + 2])
                self._block(data, sha256(data), part.height, 4, rs, kind)
        return frames.decision_ids(self.run, first, frame.height)

    def _block(self, data: bytes, digest: str, count: int, schema: int, rs: RuleSet, kind: str) -> int:
        """Append one block of ``count`` decisions; returns how many the run had before it."""
        first = self.count
        header = self._header(
            "block",
            schema=schema,
            block=len(self._digests),
            first=first,
            count=count,
            kind=kind,
            rules_version=rs.version,
            rules_dir=rs.directory,
            digest=digest,
        )
        self._append(header, data, rs)
        self._digests.append(digest)
        self.count += count
        return first

    def _header(self, type_: str, **fields: Any) -> dict[str, Any]:
        base = {"type": type_, "schema": 3, "run": self.run, "command": self.command, "recorded_at": _now()}
        return base | {"kamrules_version": __version__} | ({"key": key_id(self._key)} if self._key else {}) | fields

    def _append(self, header: dict[str, Any], data: bytes | None, ruleset: RuleSet | None) -> None:
        if self._pending is None:
            self._write([(header, data, ruleset)])
        else:
            self._pending.append((header, data, ruleset))

    def _write(self, records: list[tuple[dict[str, Any], bytes | None, RuleSet | None]]) -> None:
        kept = nullcontext(self._conn) if self._conn is not None else None
        with kept or connect(self.path, write=True) as conn, problems_of(self.path), transaction(conn):
            for header, data, ruleset in records:
                if ruleset is not None:
                    conn.execute(
                        "INSERT OR IGNORE INTO rulesets(version, files) VALUES (?, ?)",
                        (ruleset.version, _files_text(ruleset.files)),
                    )
                seq, prev = head(conn)
                text = canonical(header)
                h = link_hash(prev, text, seq + 1)
                row = (
                    seq + 1,
                    self.run,
                    header["recorded_at"],
                    text,
                    data,
                    prev,
                    h,
                    mac(self._key, h) if self._key else None,
                )
                conn.execute(
                    "INSERT INTO blocks(seq, run, recorded_at, header, data, prev_hash, hash, mac) "
                    "VALUES (?,?,?,?,?,?,?,?)",
                    row,
                )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._digests:  # nothing recorded, nothing to close
            return
        end = self._header(
            "end",
            blocks=len(self._digests),
            count=self.count,
            root=merkle_root(self._digests),  # over the run's blocks: one block proves its part of the run
            status="complete" if exc_type is None else "aborted",
        )
        if exc_type is None:
            self._append(end, None, None)
            self._flush()
            return
        # The run failed: its recorded blocks stay (they may have been shown); the error that stopped it wins.
        with suppress(KamrulesError):
            self._append(end, None, None)
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self._write(pending)


def record(
    path: Path,
    decisions: Sequence[Decision],
    ruleset: RuleSet,
    command: str = "evaluate",
    kind: str = "account",
    warn: Callable[[str], None] | None = None,
) -> list[str]:
    """Append a run's decisions in one transaction (committed when this returns); returns their decision ids.

    ``warn`` is told what is wrong with the log's last records, checked first, if anything.
    """
    # One connection and one commit for the check, the block and the run's end: a recorded `evaluate`
    # opened the file three times and waited for two commits.
    audit_key()  # a bad key stops the run before the log is created
    with connect(path, write=True) as conn:
        if warn is not None:
            from kamrules.audit.verify import tail_problem

            problem = tail_problem(path, conn=conn)
            if problem:
                warn(problem)
        with Recorder(path, ruleset, command, at_once=True, conn=conn) as rec:
            rec.add(decisions, kind=kind)
    return rec.ids


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Entry:
    """One stored decision: its chain position (its block's, for compact decisions) and its record."""

    seq: int
    decision_id: str
    recorded_at: str
    account: str
    rules_version: str
    record: Record
    run: str | None = None  # None for a decision stored in a row of its own (schema 1 and 2)
    rules_dir: str | None = None  # the rules folder the decision was made from, as its block names it
    compact: dict[str, Any] | None = None  # the stored compact decision (schema 3), None for a row decision
    recomputed: bool | None = None  # firings recomputed from the log: True identical to the outcome, False not


_COLUMNS = "seq, decision_id, recorded_at, account, rules_version, record"


def _row_entry(path: Path, row: tuple[int, str, str, str, str, str]) -> Entry:
    seq, did, at, account, version, text = row
    try:
        rec = read_record(json.loads(text))
    except (ValueError, TypeError) as e:
        raise problem(path, f"record {seq} (decision {did}) cannot be read: {e}") from None
    return Entry(seq, did, at, account, version, rec)


def block_entries(
    path: Path,
    seq: int,
    header_text: str,
    data: bytes,
    account: str | None = None,
    rule: str | None = None,
    index: int | None = None,
) -> Iterator[Entry]:
    """The decisions of one stored block (only those of an account, a fired rule, a place in the run, when given)."""
    try:
        header = json.loads(header_text)
        if header["schema"] == 4:
            from kamrules.audit import frames  # polars only for a log that holds frames

            found: Iterable[tuple[int, dict[str, Any]]] = frames.block_records(
                data, header["first"], account, rule, index
            )
        else:
            found = [
                (i, d)
                for i, d in enumerate(unpack(data)[0], header["first"] + 1)
                if (account is None or d.get("account") == account)
                and (rule is None or rule in d.get("fired", ()))
                and (index is None or i == index)
            ]
        for i, d in found:
            yield _block_entry(seq, header, i, d)
    except (ValueError, KeyError, TypeError) as e:
        raise problem(path, f"record {seq} cannot be read: {e}") from None


def _block_entry(seq: int, header: dict[str, Any], index: int, data: dict[str, Any]) -> Entry:
    did = f"{header['run']}-{index}"
    rec = compact_record(data, did, header)
    return Entry(
        seq, did, rec.recorded_at, rec.account, rec.rules_version, rec, header["run"], header["rules_dir"], data
    )


def iter_decisions(
    path: Path, account: str | None = None, since: str | None = None, rule: str | None = None, run: str | None = None
) -> Iterator[Entry]:
    """Recorded decisions, oldest first, filtered by account, time (ISO date or datetime, UTC), fired rule, run."""
    with connect(path) as conn:
        yield from (e for e in _all_entries(path, conn, since, run, account, rule) if _matches(e, account, rule))


def _matches(entry: Entry, account: str | None, rule: str | None) -> bool:
    return (account is None or entry.account == account) and (rule is None or rule in entry.record.fired)


def _all_entries(
    path: Path, conn: sqlite3.Connection, since: str | None, run: str | None, account: str | None, rule: str | None
) -> Iterator[Entry]:
    if run is None:
        yield from (_row_entry(path, r) for r in _rows(conn, since))
    for seq, header, data in _blocks(conn, since, run):
        yield from block_entries(path, seq, header, data, account, rule)


def _rows(conn: sqlite3.Connection, since: str | None) -> sqlite3.Cursor:
    sql = f"SELECT {_COLUMNS} FROM decisions" + (" WHERE recorded_at >= ?" if since else "") + " ORDER BY seq"
    return conn.execute(sql, [since] if since else [])


def _blocks(conn: sqlite3.Connection, since: str | None, run: str | None) -> Iterator[tuple[int, str, bytes]]:
    where, args = ["data IS NOT NULL"], []
    if since:
        where.append("recorded_at >= ?")
        args.append(since)
    if run:
        where.append("run LIKE ?")
        args.append(_prefix(run))
    sql = "SELECT seq, header, data FROM blocks WHERE " + " AND ".join(where) + " ORDER BY seq"
    if "blocks" in tables(conn):  # a log written before schema 3, opened read-only, has none
        yield from conn.execute(sql, args)


def count_decisions(
    path: Path, account: str | None = None, since: str | None = None, rule: str | None = None, run: str | None = None
) -> int:
    """How many decisions iter_decisions() gives, a frame-written block counted by column (no record made)."""
    with connect(path) as conn:
        rows = 0 if run else sum(_matches(_row_entry(path, r), account, rule) for r in _rows(conn, since))
        return rows + sum(_block_count(path, seq, h, d, account, rule) for seq, h, d in _blocks(conn, since, run))


def _block_count(path: Path, seq: int, header_text: str, data: bytes, account: str | None, rule: str | None) -> int:
    try:
        header = json.loads(header_text)
        if header["schema"] == 4:
            from kamrules.audit import frames

            return frames.block_count(data, account, rule)
    except (ValueError, KeyError, TypeError) as e:
        raise problem(path, f"record {seq} cannot be read: {e}") from None
    return sum(1 for _ in block_entries(path, seq, header_text, data, account, rule))


def _prefix(text: str) -> str:
    return text.replace("%", "").replace("_", "") + "%"


def list_decisions(
    path: Path, account: str | None = None, since: str | None = None, rule: str | None = None, run: str | None = None
) -> list[Entry]:
    """iter_decisions() as a list."""
    return list(iter_decisions(path, account, since, rule, run))


_COMPACT_ID = re.compile(r"([0-9a-f]{6,16})-([1-9][0-9]*)")


def show(path: Path, decision_id: str) -> Entry:
    """One decision by id (for a row decision, a unique prefix of at least 6 characters will do)."""
    with connect(path) as conn:
        m = _COMPACT_ID.fullmatch(decision_id)
        found = _compact(path, conn, m[1], int(m[2])) if m else _by_row_id(path, conn, decision_id)
    if isinstance(found, Entry):
        return found
    what = "no decision" if not found else "more than one decision"
    raise problem(path, f"{what} with id '{decision_id}'", help="list decisions with 'kamrules audit list'")


def _by_row_id(path: Path, conn: sqlite3.Connection, decision_id: str) -> Entry | int:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM decisions WHERE decision_id = ?", (decision_id,)).fetchall()
    if not rows and len(decision_id) >= 6:
        sql = f"SELECT {_COLUMNS} FROM decisions WHERE decision_id LIKE ? LIMIT 2"
        rows = conn.execute(sql, (_prefix(decision_id),)).fetchall()
    return _row_entry(path, rows[0]) if len(rows) == 1 else len(rows)


def _compact(path: Path, conn: sqlite3.Connection, run: str, index: int) -> Entry | int:
    if "blocks" not in tables(conn):
        return 0
    runs = [r[0] for r in conn.execute("SELECT DISTINCT run FROM blocks WHERE run LIKE ? LIMIT 2", (_prefix(run),))]
    if len(runs) != 1:
        return len(runs)
    for seq, header, data in conn.execute(
        "SELECT seq, header, data FROM blocks WHERE run = ? AND data IS NOT NULL ORDER BY seq", (runs[0],)
    ):
        try:
            first, count = (int(json.loads(header)[k]) for k in ("first", "count"))
        except (ValueError, TypeError, KeyError):
            raise problem(path, f"record {seq} cannot be read: its header is damaged") from None
        if first < index <= first + count:
            return next(block_entries(path, seq, header, data, index=index), 0)
    return 0


def recorded_files(path: Path, version: str) -> list[tuple[str, str]]:
    """The rule files' text recorded for a rule set version."""
    with connect(path) as conn:
        row = conn.execute("SELECT files FROM rulesets WHERE version = ?", (version,)).fetchone()
    if row is None:
        raise problem(path, f"rule set version {version[:12]} is not in the log")
    return [(name, text) for name, text in json.loads(row[0])]
