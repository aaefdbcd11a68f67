"""Recording runs in the decision log: hash-chained blocks of compact decisions, each run closed by its end."""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext, suppress
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kamrules import __version__
from kamrules.audit.chain import GENESIS, audit_key, canonical, key_id, link_hash, mac, merkle_root, sha256
from kamrules.audit.records import KINDS, compact, pack
from kamrules.audit.store import connect, problems_of, tables, transaction
from kamrules.engine import Decision
from kamrules.errors import KamrulesError
from kamrules.lang import RuleSet

if TYPE_CHECKING:  # polars is imported when a frame is recorded or read: `evaluate` starts without it
    import polars as pl

__all__ = ["Recorder", "head", "record"]


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
            from kamrules.audit.walk import tail_problem

            problem = tail_problem(path, conn=conn)
            if problem:
                warn(problem)
        with Recorder(path, ruleset, command, at_once=True, conn=conn) as rec:
            rec.add(decisions, kind=kind)
    return rec.ids
