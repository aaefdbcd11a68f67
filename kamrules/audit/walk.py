"""Walking the chain one record after another: links, hashes, MACs and block digests; the check before appending."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kamrules.audit.chain import GENESIS, audit_key, chain_hash, key_id, link_hash, mac_ok, merkle_root, sha256
from kamrules.audit.records import BLOCK_SCHEMAS, compact_record, read_record, unpack
from kamrules.audit.store import connect, tables

ROW_COLUMNS = "seq, decision_id, recorded_at, account, rules_version, kamrules_version, record, prev_hash, hash"
BLOCK_COLUMNS = "seq, run, recorded_at, header, data, prev_hash, hash, mac"


@dataclass
class Walk:
    """The state of walking the chain: the hash to link to, what was counted, each open run's block roots."""

    versions: set[str]
    key: bytes | None
    prev: str = GENESIS
    records: int = 0
    decisions: int = 0
    keyed: int = 0
    runs: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # open runs: each block's digest, count
    partial: bool = False  # walking only the last records: a run's end may close blocks not seen

    def row(self, row: tuple[Any, ...]) -> str | None:
        """Check a row decision (schema 1 and 2) and move on."""
        problem = _types_problem(row, _ROW_TYPES) or _row_problem(row, self.prev, self.records + 1, self.versions)
        if problem is None:
            self.prev, self.records, self.decisions = row[-1], self.records + 1, self.decisions + 1
        return problem

    def block(self, row: tuple[Any, ...]) -> str | None:
        """Check a block or a run's end and move on."""
        seq, run, at, text, data, prev_hash, h, mac = row
        problem = _types_problem(row, _BLOCK_TYPES) or _link_problem(seq, self.records + 1, prev_hash, self.prev)
        if problem is None and link_hash(prev_hash, text, seq) != h:
            problem = "its content was altered or moved (hash mismatch)"
        header = _header(text)
        if problem is None:
            problem = self._key_problem(header, h, mac) or self._content_problem(header, run, at, data)
        if problem is None:
            self.prev, self.records = h, self.records + 1
            self.keyed += mac is not None
        return problem

    def _key_problem(self, header: dict[str, Any] | None, h: str, mac: str | None) -> str | None:
        if self.key is None:
            return None
        wanted = key_id(self.key)
        if header is not None and header.get("key") not in (None, wanted):
            return f"it was recorded with another key (key id {header.get('key')}, yours is {wanted})"
        if mac is None or header is None or header.get("key") is None:
            return "it carries no MAC although the log is verified with a key (forged or re-chained without the key)"
        if not mac_ok(self.key, h, mac):
            return "its MAC does not match (forged or re-chained without the key)"
        return None

    def _content_problem(self, header: dict[str, Any] | None, run: str, at: str, data: bytes | None) -> str | None:
        if header is None:
            return "its header is not valid JSON"
        if (header.get("run"), header.get("recorded_at")) != (run, at):
            return "its columns disagree with its header (a column was altered)"
        if header.get("schema") not in BLOCK_SCHEMAS:
            readable = " or ".join(map(str, BLOCK_SCHEMAS))
            return f"its schema version {header.get('schema')!r} is not {readable}, the ones this kamrules reads"
        if header.get("type") == "end":
            return self._end_problem(header, run, data)
        if data is None or header.get("type") != "block":
            return "it is neither a block of decisions nor the end of a run"
        try:
            if header["schema"] == 3:
                count, digest = _json_block(data, run, header)
            elif self.partial:  # the check before `evaluate` appends: the stored bytes' digest, no polars
                count, digest = header.get("count", -1), sha256(data)
            else:
                count, digest = _frame_block(data)
        except ValueError as e:
            return f"its decisions cannot be read: {e}"
        if count != header.get("count") or digest != header.get("digest"):
            return "its decisions were altered (digest mismatch)"
        if header.get("rules_version") not in self.versions:
            return f"its rule set {str(header.get('rules_version'))[:12]} is missing from the log"
        self.runs.setdefault(run, []).append((digest, count))
        self.decisions += count
        return None

    def _end_problem(self, header: dict[str, Any], run: str, data: bytes | None) -> str | None:
        if self.partial and run not in self.runs:
            return None
        blocks = self.runs.pop(run, [])
        counted = (merkle_root(d for d, _ in blocks), len(blocks), sum(n for _, n in blocks))
        if data is not None or (header.get("root"), header.get("blocks"), header.get("count")) != counted:
            return f"the end of run {run} does not match the blocks recorded for it"
        return None


def _json_block(data: bytes, run: str, header: dict[str, Any]) -> tuple[int, str]:
    """A schema-3 block's decisions, each read as a record: how many, and the digest of their text."""
    records, digest = unpack(data)
    for i, record in enumerate(records):
        compact_record(record, f"{run}-{i}", header)
    return len(records), digest


def _frame_block(data: bytes) -> tuple[int, str]:
    """A schema-4 block decoded as a decision frame (columns and types checked as a whole): rows and digest."""
    from kamrules.audit import frames  # polars only for a log that holds frames

    return frames.decode(data).height, sha256(data)


# What each column must hold; SQLite lets anyone with the file store any type in any column.
_INT, _TEXT = (int,), (str,)
_ROW_TYPES: tuple[tuple[type, ...], ...] = (_INT, *[_TEXT] * 8)
_BLOCK_TYPES: tuple[tuple[type, ...], ...] = (
    _INT,
    _TEXT,
    _TEXT,
    _TEXT,
    (bytes, type(None)),
    _TEXT,
    _TEXT,
    (str, type(None)),
)


def _types_problem(row: tuple[Any, ...], types: tuple[tuple[type, ...], ...]) -> str | None:
    if all(isinstance(v, t) for v, t in zip(row, types, strict=True)):
        return None
    return "a column holds a value of the wrong type (the record was altered)"


def _header(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _link_problem(seq: int, expected: int, prev_hash: str, prev: str) -> str | None:
    if seq != expected:
        span = f"..{seq - 1}" if seq - 1 > expected else ""
        return f"record {expected}{span} is missing: the chain jumps from {expected - 1} to {seq}"
    if prev_hash != prev:
        return "its link to the previous record is wrong (a record before it was removed, replaced or reordered)"
    return None


def _row_problem(row: tuple[Any, ...], prev: str, expected_seq: int, versions: set[str]) -> str | None:
    """What is wrong with one row decision, given the hash of the one before it, or None."""
    seq, did, at, account, version, kversion, text, prev_hash, h = row
    problem = _link_problem(seq, expected_seq, prev_hash, prev)
    if problem:
        return problem
    if chain_hash(prev_hash, text, did, at, seq) != h:
        return "its content was altered or moved (hash mismatch)"
    try:
        rec = read_record(json.loads(text))
    except ValueError as e:
        return f"its record cannot be read: {e}"
    if (rec.decision_id, rec.recorded_at, rec.account, rec.rules_version, rec.kamrules_version) != (
        did,
        at,
        account,
        version,
        kversion,
    ):
        return "its columns disagree with its record (a column was altered)"
    if version not in versions:
        return f"its rule set {version[:12]} is missing from the log"
    return None


def tail_problem(path: Path, records: int = 3, conn: sqlite3.Connection | None = None) -> str | None:
    """What is wrong with the last few records of the log, if anything (checked before appending to it).

    ``conn``: the log already open (to append), else it is opened to read.
    """
    if conn is None:
        if not path.is_file():
            return None
        with connect(path) as opened:
            return tail_problem(path, records, opened)
    versions = {r[0] for r in conn.execute("SELECT version FROM rulesets")}
    table, columns = ("blocks", BLOCK_COLUMNS) if "blocks" in tables(conn) else ("decisions", ROW_COLUMNS)
    try:
        rows = conn.execute(f"SELECT {columns} FROM {table} ORDER BY seq DESC LIMIT ?", (records,)).fetchall()
    except sqlite3.DatabaseError as e:
        return f"its last records cannot be read: the file is damaged ({e})"
    if table == "blocks" and not rows:
        table, columns = "decisions", ROW_COLUMNS
        rows = conn.execute(f"SELECT {columns} FROM decisions ORDER BY seq DESC LIMIT ?", (records,)).fetchall()
    if not rows:
        return None
    rows.reverse()
    walk = Walk(
        versions, audit_key(), prev=rows[0][-3 if table == "blocks" else -2], records=rows[0][0] - 1, partial=True
    )
    step = walk.block if table == "blocks" else walk.row
    for row in rows:
        problem = step(row)
        if problem:
            return f"record {row[0]}: {problem}"
    return None
