"""The decision log: list and show the decisions recorded (audit/recorder.py writes them)."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kamrules.audit.recorder import Recorder, head, record
from kamrules.audit.records import Record, compact_record, read_record, unpack
from kamrules.audit.store import ENV_VAR, connect, db_path, problem, tables

__all__ = ["ENV_VAR", "Entry", "Recorder", "count_decisions", "db_path", "head", "iter_decisions", "list_decisions"]
__all__ += ["record", "show"]


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
