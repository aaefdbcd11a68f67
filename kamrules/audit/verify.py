"""Verifying the log: walk the chain, check each block's Merkle root and MAC, compare with a checkpoint."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from kamrules.audit.chain import audit_key
from kamrules.audit.checkpoint import Checkpoint
from kamrules.audit.store import connect, tables
from kamrules.audit.walk import BLOCK_COLUMNS, ROW_COLUMNS, Walk, tail_problem
from kamrules.errors import CheckFailed
from kamrules.lang import ruleset_version

__all__ = ["Broken", "Verification", "check", "tail_problem", "verify"]


class Broken(NamedTuple):
    """Where the chain breaks: the record (seq; a row decision's id; the last seq of a damaged range) and why."""

    seq: int | None
    decision_id: str | None
    problem: str
    last: int | None = None


@dataclass(frozen=True)
class Verification:
    """The outcome of walking the chain: how many records and decisions, the first broken one if any."""

    records: int
    rulesets: int
    broken: Broken | None = None
    decisions: int = 0
    keyed: int = 0  # records that carry a MAC
    key_checked: bool = False  # True when $KAMRULES_AUDIT_KEY was set and every MAC checked
    unfinished: tuple[str, ...] = ()  # runs with blocks but no end (stopped, or still running)
    checkpoint: Checkpoint | None = None  # the checkpoint the log was compared with

    @property
    def ok(self) -> bool:
        """True when the whole log is intact."""
        return self.broken is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "records": self.records,
            "decisions": self.decisions,
            "rulesets": self.rulesets,
            "keyed": self.keyed,
            "key_checked": self.key_checked,
            "unfinished_runs": list(self.unfinished),
            "checkpoint": self.checkpoint._asdict() if self.checkpoint else None,
            "broken": self.broken._asdict() if self.broken else None,
        }


class _Damage(NamedTuple):
    first: int
    last: int | None
    error: str


def _rulesets_problem(rulesets: list[tuple[str, str]]) -> str | None:
    for version, files in rulesets:
        try:
            actual = ruleset_version(json.loads(files))
        except (ValueError, TypeError):
            actual = None
        if actual != version:
            return f"the recorded text of rule set {str(version)[:12]} was altered (hash mismatch)"
    return None


def _readable(conn: sqlite3.Connection, table: str, columns: str) -> Iterator[tuple[Any, ...] | _Damage]:
    """The rows of a chain table in seq order; a range that cannot be read (damaged pages) as one _Damage."""
    after = 0
    while True:
        try:
            for row in conn.execute(f"SELECT {columns} FROM {table} WHERE seq > ? ORDER BY seq", (after,)):
                after = row[0]
                yield row
            return
        except sqlite3.DatabaseError as e:
            resume = _next_readable(conn, table, columns, after)
            yield _Damage(after + 1, None if resume is None else resume - 1, str(e))
            if resume is None:
                return
            after = resume - 1


def _next_readable(conn: sqlite3.Connection, table: str, columns: str, after: int) -> int | None:
    try:
        last = conn.execute(f"SELECT max(seq) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        return None
    for seq in range(after + 2, last + 1):
        try:
            if conn.execute(f"SELECT {columns} FROM {table} WHERE seq = ?", (seq,)).fetchone():
                return seq
        except sqlite3.DatabaseError:
            continue
    return None


def verify(path: Path, checkpoint: Checkpoint | None = None) -> Verification:
    """Walk the chain from the first record; report the first damaged, edited, missing or reordered record."""
    key = audit_key()
    with connect(path) as conn:
        try:
            rulesets = conn.execute("SELECT version, files FROM rulesets ORDER BY version").fetchall()
        except sqlite3.DatabaseError as e:
            return Verification(0, 0, Broken(None, None, f"the rule sets cannot be read: the file is damaged ({e})"))
        problem = _rulesets_problem(rulesets)
        if problem:
            return Verification(0, len(rulesets), Broken(None, None, problem))
        walk = Walk({version for version, _ in rulesets}, key)
        broken = _walk_table(conn, "decisions", ROW_COLUMNS, walk.row, checkpoint, walk)
        if broken is None and "blocks" in tables(conn):
            broken = _walk_table(conn, "blocks", BLOCK_COLUMNS, walk.block, checkpoint, walk)
    if broken is None and checkpoint is not None and walk.records < checkpoint.records:
        broken = Broken(
            walk.records + 1,
            None,
            f"the log ends at record {walk.records} but the checkpoint has {checkpoint.records}: "
            "records were removed (truncated or rolled back) since the checkpoint",
        )
    return Verification(
        walk.records,
        len(rulesets),
        broken,
        walk.decisions,
        walk.keyed,
        key is not None,
        tuple(walk.runs),
        checkpoint,
    )


def _walk_table(
    conn: sqlite3.Connection,
    table: str,
    columns: str,
    step: Any,
    checkpoint: Checkpoint | None,
    walk: Walk,
) -> Broken | None:
    for row in _readable(conn, table, columns):
        if isinstance(row, _Damage):
            span = f"{row.first}" + ("" if row.last == row.first else f"..{row.last if row.last else 'the end'}")
            return Broken(
                row.first, None, f"record(s) {span} cannot be read: the file is damaged ({row.error})", row.last
            )
        problem = step(row)
        if problem:
            return Broken(row[0], row[1] if table == "decisions" else None, problem)
        if checkpoint is not None and row[0] == checkpoint.records and walk.prev != checkpoint.hash:
            return Broken(
                row[0],
                None,
                "it differs from the checkpoint: the log was rewritten (re-chained) since the checkpoint",
            )
    return None


def check(path: Path, checkpoint: Checkpoint | None = None) -> Verification:
    """verify(), raising CheckFailed naming the first broken record."""
    v = verify(path, checkpoint)
    b = v.broken
    if b is not None:
        where = (
            "rule sets"
            if b.seq is None
            else f"record {b.seq}" + (f" (decision {b.decision_id})" if b.decision_id else "")
        )
        raise CheckFailed(
            f"audit log {path} is broken at {where}: {b.problem}; {v.records} record(s) before it are intact"
        )
    return v
