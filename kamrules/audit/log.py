"""The decision log: an append-only, hash-chained SQLite record of every decision, with replay and backtest."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from kamrules import __version__
from kamrules.engine.evaluate import Decision, Evaluator
from kamrules.errors import CheckFailed, InvalidInput, Problem, Span
from kamrules.inputs.signals import observation_problem
from kamrules.lang.loader import load_ruleset, ruleset_version
from kamrules.lang.model import Account, RuleSet
from kamrules.render.words import TRACE_HEADERS, fmt, trace_rows

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
    return InvalidInput([Problem(Span(str(path)), message, help=help, code="audit")])


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


def decision_record(decision: Decision, decision_id: str, recorded_at: str, command: str) -> dict:
    """Everything needed to understand and replay a decision later, as plain data (nothing stored twice)."""
    d = decision.to_dict()
    given, derived, firings = d.pop("given"), d.pop("derived"), d.pop("reasons")
    return {
        "decision_id": decision_id,
        "recorded_at": recorded_at,
        "command": command,
        "account": decision.account,
        "origin": decision.origin,
        "given": given,
        "derived": derived,
        "rules_version": decision.rules_version,
        "kamrules_version": __version__,
        "firings": firings,
        "decision": d,
    }


def recorded_decision(record: dict) -> dict:
    """The decision as ``Decision.to_dict()`` gave it when it was recorded."""
    return {**record["decision"], "given": record["given"], "derived": record["derived"], "reasons": record["firings"]}


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
        self._conn.execute(
            "INSERT OR IGNORE INTO rulesets(version, files) VALUES (?, ?)",
            (self.ruleset.version, canonical([list(f) for f in self.ruleset.files])),
        )
        row = self._conn.execute("SELECT seq, hash FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
        self._seq, self._prev = row if row else (0, GENESIS)
        return self

    def add(self, decisions: Sequence[Decision]) -> None:
        """Append decisions to the chain (committed when the run ends without error)."""
        rows = []
        for decision in decisions:
            self._seq += 1
            did = uuid.uuid4().hex
            at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
            text = canonical(decision_record(decision, did, at, self.command))
            h = chain_hash(self._prev, text, did, at, self._seq)
            rows.append(
                (self._seq, did, at, decision.account, decision.rules_version, __version__, text, self._prev, h)
            )
            self._prev = h
            self.ids.append(did)
        self._conn.executemany(
            "INSERT INTO decisions(seq, decision_id, recorded_at, account, rules_version, "
            "kamrules_version, record, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._cm.__exit__(exc_type, exc, tb)


def record(path: Path, decisions: Sequence[Decision], ruleset: RuleSet, command: str = "evaluate") -> list[str]:
    """Append a run's decisions in one transaction; returns their decision ids."""
    with Recorder(path, ruleset, command) as rec:
        rec.add(decisions)
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
    record: dict

    def summary(self) -> dict:
        """A row for `audit list`."""
        d = self.record["decision"]
        return {
            "decision_id": self.decision_id,
            "recorded_at": self.recorded_at,
            "account": self.account,
            "stage": f"{d['stage']['current']} → {d['stage']['recommended']} ({d['stage']['move']})",
            "key_account": d.get("key_account"),
            "rules_version": self.rules_version[:12],
        }


def _entry(row: tuple) -> Entry:
    seq, did, at, account, version, text = row
    return Entry(seq, did, at, account, version, json.loads(text))


_COLUMNS = "seq, decision_id, recorded_at, account, rules_version, record"


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
        entries = [_entry(r) for r in conn.execute(sql, args)]
    if rule:
        entries = [e for e in entries if rule in e.record["decision"]["fired"]]
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
    return _entry(rows[0])


def recorded_files(path: Path, version: str) -> list[tuple[str, str]]:
    """The rule files' text recorded for a rule set version."""
    with _connect(path) as conn:
        row = conn.execute("SELECT files FROM rulesets WHERE version = ?", (version,)).fetchone()
    if row is None:
        raise _problem(path, f"rule set version {version[:12]} is not in the log")
    return [tuple(f) for f in json.loads(row[0])]


# ---------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class Verification:
    """The outcome of walking the chain: how many records, and the first broken one if any."""

    records: int
    rulesets: int
    broken_seq: int | None = None
    broken_id: str | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when the whole log is intact."""
        return self.problem is None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "records": self.records,
            "rulesets": self.rulesets,
            "broken": None
            if self.ok
            else {"seq": self.broken_seq, "decision_id": self.broken_id, "problem": self.problem},
        }


def verify(path: Path) -> Verification:
    """Walk the chain from the first record; report the first edited, missing or reordered record."""
    with _connect(path) as conn:
        rulesets = conn.execute("SELECT version, files FROM rulesets ORDER BY version").fetchall()
        rows = conn.execute(
            "SELECT seq, decision_id, recorded_at, account, rules_version, kamrules_version, "
            "record, prev_hash, hash FROM decisions ORDER BY seq"
        )
        versions = set()
        for version, files in rulesets:
            try:
                actual = ruleset_version(json.loads(files))
            except (ValueError, TypeError):
                actual = None
            if actual != version:
                return Verification(
                    0,
                    len(rulesets),
                    None,
                    None,
                    f"the recorded text of rule set {version[:12]} was altered (hash mismatch)",
                )
            versions.add(version)
        prev, expected_seq, n = GENESIS, 1, 0
        for seq, did, at, account, version, kversion, text, prev_hash, h in rows:

            def broken(problem: str) -> Verification:
                return Verification(n, len(rulesets), seq, did, problem)

            if seq != expected_seq:
                return broken(
                    f"record {expected_seq}"
                    + (f"..{seq - 1}" if seq - 1 > expected_seq else "")
                    + f" is missing: the chain jumps from {expected_seq - 1} to {seq}"
                )
            if prev_hash != prev:
                return broken(
                    "its link to the previous record is wrong (a record before it was removed, replaced or reordered)"
                )
            if chain_hash(prev_hash, text, did, at, seq) != h:
                return broken("its content was altered or moved (hash mismatch)")
            try:
                rec = json.loads(text)
            except ValueError:
                return broken("its record is not valid JSON")
            if (
                rec.get("decision_id"),
                rec.get("recorded_at"),
                rec.get("account"),
                rec.get("rules_version"),
                rec.get("kamrules_version"),
            ) != (did, at, account, version, kversion):
                return broken("its columns disagree with its record (a column was altered)")
            if version not in versions:
                return broken(f"its rule set {version[:12]} is missing from the log")
            prev, expected_seq, n = h, seq + 1, n + 1
    return Verification(n, len(rulesets))


def check(path: Path) -> Verification:
    """verify(), raising CheckFailed naming the first broken record."""
    v = verify(path)
    if not v.ok:
        where = f"record {v.broken_seq} (decision {v.broken_id})" if v.broken_seq else "rule sets"
        raise CheckFailed(
            f"audit log {path} is broken at {where}: {v.problem}; {v.records} record(s) before it are intact"
        )
    return v


# ---------------------------------------------------------------------------- replay and backtest


def account_of(entry: Entry, ruleset: RuleSet) -> tuple[Account, list[Problem]]:
    """The recorded given facts as an account, typed by the rule set's schema, and any facts it rejects."""
    facts: dict[str, Any] = {}
    problems = []
    span = Span(f"audit:{entry.decision_id}")
    for fname, value in entry.record["given"].items():
        fact = ruleset.facts.get(fname)
        if fact is not None and fact.type == "date" and isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                pass
        # what was recorded was accepted then: check type and schema, not ranges (computed values are observations)
        problem = observation_problem(ruleset, fname, value, span, "recorded account")
        if problem:
            problems.append(problem)
        else:
            facts[fname] = value
    return Account(entry.account, facts, entry.record["decision"].get("name"), entry.record.get("origin", "")), problems


def comparable(decision: dict) -> dict:
    """A decision dict with what legitimately differs between runs removed: rule folder paths, kamrules version."""
    d = json.loads(canonical(decision))
    d.pop("kamrules_version", None)
    for reason in d.get("reasons", []):
        file, _, line = reason["source"].rpartition(":")
        reason["source"] = f"{Path(file).name}:{line}"
    return d


CHANGE_TYPES = (
    "stage move changed",
    "recommended stage changed",
    "key account gained",
    "key account lost",
    "actions added",
    "actions removed",
)


def changes(old: dict, new: dict) -> list[tuple[str, str]]:
    """What differs between two decision dicts, as (change type, detail), in CHANGE_TYPES order."""
    out = []
    so, sn = old["stage"], new["stage"]
    if so["move"] != sn["move"]:
        out.append(("stage move changed", f"{so['move']} → {sn['move']}"))
    if so["recommended"] != sn["recommended"]:
        out.append(("recommended stage changed", f"{so['recommended']} → {sn['recommended']}"))
    if not old.get("key_account") and new.get("key_account"):
        out.append(("key account gained", "no → yes"))
    if old.get("key_account") and not new.get("key_account"):
        out.append(("key account lost", "yes → no"))
    ao, an = [a["id"] for a in old["actions"]], [a["id"] for a in new["actions"]]
    if added := [a for a in an if a not in ao]:
        out.append(("actions added", ", ".join(added)))
    if removed := [a for a in ao if a not in an]:
        out.append(("actions removed", ", ".join(removed)))
    return out


@dataclass(frozen=True)
class Replay:
    """A recorded decision re-evaluated: the recorded and the new result, and whether they match."""

    entry: Entry
    rules: str  # "recorded" or the rules folder used
    new: dict
    identical: bool
    differences: tuple[tuple[str, str], ...]
    other: tuple[str, ...] = ()  # differences outside the change types (fired rules, derived facts)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "decision_id": self.entry.decision_id,
            "account": self.entry.account,
            "rules": self.rules,
            "identical": self.identical,
            "changes": [{"type": t, "detail": d} for t, d in self.differences],
            "other_differences": list(self.other),
            "recorded": recorded_decision(self.entry.record),
            "replayed": self.new,
        }


def _other(old: dict, new: dict) -> list[str]:
    out = []
    if old["fired"] != new["fired"]:
        out.append(f"fired rules: {', '.join(old['fired']) or '—'} → {', '.join(new['fired']) or '—'}")
    for k in sorted(set(old["derived"]) | set(new["derived"])):
        vo, vn = old["derived"].get(k, {}).get("value"), new["derived"].get(k, {}).get("value")
        if vo != vn:
            out.append(f"derived {k}: {vo} → {vn}")
    return out


@contextmanager
def recorded_ruleset(path: Path, version: str) -> Iterator[RuleSet]:
    """The rule set exactly as recorded, loaded from its text written to a temporary folder."""
    files = recorded_files(path, version)
    with tempfile.TemporaryDirectory(prefix="kamrules-replay-") as tmp:
        for name, text in files:
            (Path(tmp) / name).write_bytes(text.encode("utf-8"))
        yield load_ruleset(tmp)


def replay(path: Path, decision_id: str, rules_dir: str | None = None) -> Replay:
    """Re-evaluate a recorded decision's given facts with the recorded rule text, or with another rules folder."""
    entry = show(path, decision_id)
    if rules_dir is None:
        with recorded_ruleset(path, entry.rules_version) as rs:
            return _replay_with(entry, rs, "recorded")
    return _replay_with(entry, load_ruleset(rules_dir), rules_dir)


def _replay_with(entry: Entry, ruleset: RuleSet, label: str) -> Replay:
    account, problems = account_of(entry, ruleset)
    if problems:
        raise InvalidInput(problems)
    with Evaluator(ruleset) as ev:
        new = ev.evaluate(account).to_dict()
    old = recorded_decision(entry.record)
    return Replay(
        entry, label, new, comparable(old) == comparable(new), tuple(changes(old, new)), tuple(_other(old, new))
    )


@dataclass
class Backtest:
    """What a new rule set would change over recorded decisions, by change type."""

    rules_dir: str
    rules_version: str
    decisions: int = 0
    changed: int = 0
    by_type: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in CHANGE_TYPES})
    skipped: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "rules": self.rules_dir,
            "rules_version": self.rules_version,
            "decisions": self.decisions,
            "changed": self.changed,
            "unchanged": self.decisions - self.changed - len(self.skipped),
            "changes": {
                t: {"count": len(v), "accounts": sorted({x["account"] for x in v}), "decisions": v}
                for t, v in self.by_type.items()
            },
            "skipped": self.skipped,
        }


def backtest(path: Path, rules_dir: str, since: str | None = None) -> Backtest:
    """Re-run recorded decisions' given facts under another rule set and count what would change."""
    ruleset = load_ruleset(rules_dir)
    entries = list_decisions(path, since=since)
    result = Backtest(rules_dir, ruleset.version, len(entries))
    runnable = []
    for e in entries:
        account, problems = account_of(e, ruleset)
        if problems:
            result.skipped.append(
                {"decision_id": e.decision_id, "account": e.account, "problems": [p.headline() for p in problems]}
            )
        else:
            runnable.append((e, account))
    with Evaluator(ruleset) as ev:
        new = ev.evaluate_many([a for _, a in runnable]) if runnable else []
    for (e, _), d in zip(runnable, new):
        diff = changes(recorded_decision(e.record), d.to_dict())
        if diff:
            result.changed += 1
        for kind, detail in diff:
            result.by_type[kind].append({"decision_id": e.decision_id, "account": e.account, "detail": detail})
    return result


# ---------------------------------------------------------------------------- text


def entries_text(entries: Sequence[Entry]) -> str:
    """`audit list` as a table."""
    if not entries:
        return "no recorded decisions match"
    rows = [e.summary() for e in entries]
    return tabulate([[fmt(v) for v in r.values()] for r in rows], headers=list(rows[0]), tablefmt="simple")


def record_text(entry: Entry) -> str:
    """A recorded decision in full: inputs, firings in order with conditions, the recommendation."""
    rec, d = entry.record, entry.record["decision"]
    out = [
        f"Decision {entry.decision_id}  (#{entry.seq}, recorded {entry.recorded_at} by '{rec['command']}')",
        f"Account {d['account']}"
        + (f" — {d['name']}" if d.get("name") else "")
        + (f"  from {rec['origin']}" if rec.get("origin") else ""),
        f"rules version {rec['rules_version']}  kamrules {rec['kamrules_version']}",
        "",
    ]
    s = d["stage"]
    out.append(f"key account: {fmt(d.get('key_account'))}")
    out.append(
        f"stage: {s['current'] or '—'} → {s['recommended'] or '—'} ({s['move']}) "
        + (f"by {s['rule']}" if s["rule"] else "— no transition rule fired")
    )
    if d.get("structure"):
        out.append(f"structure: {d['structure']['recommended']} by {d['structure']['rule']}")
    out.append("actions: " + ("none" if not d["actions"] else ""))
    out.extend(f"  - {a['text']}  [{a['id']}; {', '.join(a['rules'])}]" for a in d["actions"])
    out.append("")
    out.append("Given facts")
    out.extend(f"  {k}: {fmt(v)}" for k, v in rec["given"].items())
    out.append("Derived facts")
    out.extend(f"  {k}: {fmt(v['value'])}  (by {v['rule']})" for k, v in rec["derived"].items())
    out.append("")
    out.append("Firings, in order")
    for i, r in enumerate(rec["firings"], 1):
        out.append(f"  {i}. {r['rule']}  ({r['source']}, priority {r['priority']}, stratum {r['stratum']})")
        out.append(f"     {r['description'].strip()}")
        table = tabulate(trace_rows(r["conditions"]), headers=TRACE_HEADERS, tablefmt="simple")
        out.extend("     " + line for line in table.splitlines())
        concl = "; ".join(
            ", ".join(f"{f} = {fmt(x)}" for f, x in v.items()) if k == "derive" else f"{k} {fmt(v)}"
            for k, v in r["concludes"].items()
        )
        out.append(f"     concludes: {concl}")
        for what, winner in r["overridden"].items():
            out.append(f"     overridden on {what} by {winner}")
    if not rec["firings"]:
        out.append("  no rule fired")
    return "\n".join(out)


def replay_text(r: Replay) -> str:
    """`audit replay` as text."""
    head = f"Replay of {r.entry.decision_id} ({r.entry.account}) with {r.rules} rules"
    if r.identical:
        return head + ": identical to the recorded decision"
    lines = [head + ": differs from the recorded decision"]
    lines.extend(f"  {t}: {d}" for t, d in r.differences)
    lines.extend(f"  {o}" for o in r.other)
    if not r.differences and not r.other:
        lines.append("  details differ (conditions or sources); see --format json")
    return "\n".join(lines)


def backtest_text(b: Backtest) -> str:
    """`audit backtest` as text."""
    out = [
        f"Backtest of rules {b.rules_dir} (version {b.rules_version[:12]}) over {b.decisions} recorded "
        f"decision(s): {b.changed} would change"
    ]
    for kind, items in b.by_type.items():
        if items:
            accounts = sorted({x["account"] for x in items})
            out.append(f"  {kind}: {len(items)}  ({', '.join(accounts)})")
    if b.skipped:
        out.append(f"  not evaluable under the new facts schema: {len(b.skipped)}")
        out.extend(f"    {s['decision_id']} {s['account']}: {'; '.join(s['problems'])}" for s in b.skipped)
    return "\n".join(out)
