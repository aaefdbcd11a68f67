"""The decision log as people read it: `audit list`, `show`, `verify`, `checkpoint`, `replay`, `backtest` text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kamrules.audit.chain import KEY_VAR
from kamrules.audit.checkpoint import Checkpoint
from kamrules.audit.log import Entry
from kamrules.audit.records import Record
from kamrules.audit.replay import Backtest, Replay
from kamrules.audit.verify import Verification
from kamrules.render.tables import tabulate
from kamrules.render.words import TRACE_HEADERS, fmt, trace_rows

# The output objects of the audit commands, here rather than in the registry: evaluate never makes one.


@dataclass(frozen=True)
class AuditEntries:
    """What `kamrules audit list` shows: the matching entries of the decision log, oldest first."""

    entries: tuple[Entry, ...]
    more: int = 0  # matching entries left out by --limit


@dataclass(frozen=True)
class Verified:
    """What `kamrules audit verify` shows: the log that was walked and what was found."""

    path: Path
    verification: Verification


@dataclass(frozen=True)
class Checkpointed:
    """What `kamrules audit checkpoint` shows: the head of a log; its JSON is the checkpoint file."""

    path: Path
    checkpoint: Checkpoint


def entry_row(entry: Entry) -> dict[str, Any]:
    """A row for `audit list` (the table and the JSON)."""
    d = entry.record.decision
    s = d.get("stage")
    return {
        "decision_id": entry.decision_id,
        "recorded_at": entry.recorded_at,
        "kind": entry.record.kind,
        "account": entry.account,
        "stage": f"{s['current']} → {s['recommended']} ({s['move']})" if s else None,
        "key_account": d.get("key_account"),
        "rules_version": entry.rules_version[:12],
    }


def entries_text(entries: Sequence[Entry], more: int = 0) -> str:
    """`audit list` as a table, and how many more match."""
    if not entries:
        return "no recorded decisions match" + (f" within --limit (and {more:,} more)" if more else "")
    rows = [entry_row(e) for e in entries]
    table = tabulate([[fmt(v) for v in r.values()] for r in rows], headers=list(rows[0]), tablefmt="simple")
    if more:
        table += f"\n… and {more:,} more (--limit 0 shows all; narrow with --run, --account, --since or --rule)"
    return table


def verification_text(path: Path, v: Verification) -> str:
    """`audit verify` of an intact log: what was checked, and what a key or a checkpoint would add."""
    lines = [f"{path}: intact: {v.decisions} decision(s) in {v.records} record(s), {v.rulesets} rule set(s)"]
    if v.key_checked:
        lines.append(f"  keyed: every record's MAC is valid for the key in ${KEY_VAR}")
    elif v.keyed:
        lines.append(f"  {v.keyed} record(s) carry a MAC, not checked: set ${KEY_VAR} to check them")
    else:
        lines.append("  not keyed: anyone with write access could rewrite the log and its hashes")
    if v.checkpoint is not None:
        lines.append(
            f"  checkpoint: record {v.checkpoint.records} matches"
            + (f" (taken {v.checkpoint.taken_at})" if v.checkpoint.taken_at else "")
        )
    else:
        lines.append("  no checkpoint given: records removed from the end would go unnoticed")
    if v.unfinished:
        lines.append(f"  run(s) without an end (stopped or still running): {', '.join(v.unfinished)}")
    return "\n".join(lines)


def checkpoint_text(path: Path, cp: Checkpoint) -> str:
    """`audit checkpoint`: the head to keep outside the log."""
    return (
        f"{path}: {cp.records} record(s), last hash {cp.hash}\n"
        "  keep this outside the log (a ticket, an e-mail, another system); "
        "check against it with 'kamrules audit verify --checkpoint FILE'"
    )


def tail_warning(path: Path, problem: str) -> str:
    """What `evaluate` says before appending to a log whose last records do not verify."""
    return (
        f"warning: the audit log {path} does not verify at its end ({problem}); "
        "the decision is recorded after it. Run 'kamrules audit verify' to see what is wrong."
    )


def record_text(entry: Entry) -> str:
    """A recorded decision in full: inputs, firings in order with conditions, the recommendation."""
    rec = entry.record
    out = [
        f"Decision {entry.decision_id}  (#{entry.seq}, recorded {entry.recorded_at} by '{rec.command}')",
        f"Account {rec.account}"
        + (f" — {rec.name}" if rec.name else "")
        + (f"  from {rec.origin}" if rec.origin else ""),
        f"rules version {rec.rules_version}  kamrules {rec.kamrules_version}",
        *_recomputed_lines(entry),
        "",
        *_result_lines(rec.decision),
        "",
        "Given facts",
        *(f"  {k}: {fmt(v)}" for k, v in rec.given.items()),
        "Derived facts",
        *(f"  {k}: {fmt(v['value'])}  (by {v['rule']})" for k, v in rec.derived.items()),
        "",
        "Firings, in order",
        *_firings_lines(rec),
    ]
    return "\n".join(out)


def _recomputed_lines(entry: Entry) -> list[str]:
    if entry.recomputed is None:
        return []
    if entry.recomputed:
        return ["trace recomputed from the recorded facts and rule text: same outcome as recorded"]
    return [
        "trace recomputed from the recorded facts and rule text: IT DIFFERS from the recorded outcome (audit replay)"
    ]


def _result_lines(d: dict[str, Any]) -> list[str]:
    out = [f"key account: {fmt(d.get('key_account'))}"]
    # A portfolio decision recommends a structure and has no stage.
    if s := d.get("stage"):
        out.append(
            f"stage: {s['current'] or '—'} → {s['recommended'] or '—'} ({s['move']}) "
            + (f"by {s['rule']}" if s["rule"] else "— no transition rule fired")
        )
    if d.get("structure"):
        out.append(f"structure: {d['structure']['recommended']} by {d['structure']['rule']}")
    out.append("actions: " + ("none" if not d["actions"] else ""))
    out.extend(f"  - {a['text']}  [{a['id']}; {', '.join(a['rules'])}]" for a in d["actions"])
    return out


def _firings_lines(rec: Record) -> list[str]:
    if not rec.firings:
        return ["  no rule fired"]
    out = []
    for i, r in enumerate(rec.firings, 1):
        out.append(f"  {i}. {r['rule']}  ({r['source']}, priority {r['priority']}, stratum {r['stratum']})")
        out.append(f"     {r['description'].strip()}")
        table = tabulate(trace_rows(r["conditions"]), headers=TRACE_HEADERS, tablefmt="simple")
        out.extend("     " + line for line in table.splitlines())
        concl = "; ".join(
            ", ".join(f"{f} = {fmt(x)}" for f, x in v.items()) if k == "derive" else f"{k} {fmt(v)}"
            for k, v in r["concludes"].items()
        )
        out.append(f"     concludes: {concl}")
        out.extend(f"     overridden on {what} by {winner}" for what, winner in r["overridden"].items())
    return out


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
        f"decision(s) of {b.accounts} account(s): {b.changed} would change ({b.changed_accounts} account(s))"
    ]
    for kind, items in b.by_type.items():
        if items:
            accounts = sorted({x["account"] for x in items})
            shown = ", ".join(accounts[:10]) + (f", and {len(accounts) - 10} more" if len(accounts) > 10 else "")
            out.append(f"  {kind}: {len(items)} decision(s) of {len(accounts)} account(s)  ({shown})")
    if b.skipped:
        out.append(f"  not evaluable under the new facts schema: {len(b.skipped)}")
        out.extend(f"    {s['decision_id']} {s['account']}: {'; '.join(s['problems'])}" for s in b.skipped)
    return "\n".join(out)
