"""Replay, backtest and recomputed traces: re-evaluate recorded decisions with the recorded rule text or other rules."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kamrules.audit.chain import canonical
from kamrules.audit.log import Entry, iter_decisions, list_decisions, recorded_files, show
from kamrules.audit.records import Record, compact
from kamrules.audit.store import problem
from kamrules.engine import Decision, Evaluator, explain
from kamrules.engine.explain import Explanation
from kamrules.errors import InvalidInput, Problem, Span
from kamrules.lang import Account, RuleSet, load_ruleset, load_ruleset_texts, observation_problem

# The rules folder named in replayed sources when the recorded decision names none (no rule fired).
RECORDED = "recorded"


def account_of(entry: Entry, ruleset: RuleSet) -> tuple[Account, list[Problem]]:
    """The recorded given facts as an account, typed by the rule set's schema, and any facts it rejects."""
    facts: dict[str, Any] = {}
    problems = []
    span = Span(f"audit:{entry.decision_id}")
    for fname, value in entry.record.given.items():
        fact = ruleset.facts.get(fname)
        if fact is not None and fact.type == "date" and isinstance(value, str):
            # A date that does not parse stays text, and the schema check below says what is wrong with it.
            with suppress(ValueError):
                value = dt.date.fromisoformat(value)
        # what was recorded was accepted then: check type and schema, not ranges (computed values are observations)
        problem = observation_problem(ruleset, fname, value, span, "recorded account")
        if problem:
            problems.append(problem)
        else:
            facts[fname] = value
    return Account(entry.account, facts, entry.record.name, entry.record.origin), problems


def comparable(decision: dict[str, Any]) -> dict[str, Any]:
    """A decision dict with what legitimately differs between runs removed: rule folder paths, kamrules version."""
    d: dict[str, Any] = json.loads(canonical(decision))
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


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
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


def _other(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    if old["fired"] != new["fired"]:
        out.append(f"fired rules: {', '.join(old['fired']) or '—'} → {', '.join(new['fired']) or '—'}")
    for k in sorted(set(old["derived"]) | set(new["derived"])):
        vo, vn = old["derived"].get(k, {}).get("value"), new["derived"].get(k, {}).get("value")
        if vo != vn:
            out.append(f"derived {k}: {vo} → {vn}")
    return out


@dataclass(frozen=True)
class Replay:
    """A recorded decision re-evaluated: the recorded and the new result, and whether they match."""

    entry: Entry
    rules: str  # "recorded" or the rules folder used
    new: dict[str, Any]
    identical: bool
    differences: tuple[tuple[str, str], ...]
    other: tuple[str, ...] = ()  # differences outside the change types (fired rules, derived facts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "decision_id": self.entry.decision_id,
            "account": self.entry.account,
            "rules": self.rules,
            "identical": self.identical,
            "changes": [{"type": t, "detail": d} for t, d in self.differences],
            "other_differences": list(self.other),
            "recorded": self.entry.record.decision_dict(),
            "replayed": self.new,
        }


def recorded_directory(entry: Entry) -> str:
    """The rules folder a recorded decision was evaluated from, as its block or its firings name it."""
    if entry.rules_dir is not None:
        return entry.rules_dir
    if not entry.record.firings:
        return RECORDED
    file, _, _ = entry.record.firings[0]["source"].rpartition(":")
    return str(Path(file).parent)


def replay(path: Path, decision_id: str, rules_dir: str | None = None) -> Replay:
    """Re-evaluate a recorded decision's given facts with the recorded rule text, or with another rules folder."""
    entry = show(path, decision_id)
    if rules_dir is None:
        return _replay_with(entry, recorded_ruleset(path, entry), "recorded")
    return _replay_with(entry, load_ruleset(rules_dir), rules_dir)


def recorded_ruleset(path: Path, entry: Entry) -> RuleSet:
    """The rule set a decision was made with, from the text the log recorded."""
    return load_ruleset_texts(recorded_files(path, entry.rules_version), recorded_directory(entry))


def same_outcome(entry: Entry, new: Decision) -> bool:
    """Whether a new decision equals the recorded one: its compact form, or its full record (rule paths aside)."""
    if entry.compact is not None:
        return bool(json.loads(canonical(compact(new))) == entry.compact)
    return comparable(entry.record.decision_dict()) == comparable(new.to_dict())


def traced(path: Path, entry: Entry) -> Entry:
    """A compact decision with its full trace recomputed from the recorded facts and rule text (others as stored)."""
    if entry.compact is None:
        return entry
    ruleset = recorded_ruleset(path, entry)
    new = _decide(entry, ruleset)
    d = new.to_dict()
    rec = entry.record
    full = Record(
        rec.decision_id,
        rec.recorded_at,
        rec.command,
        rec.account,
        rec.origin,
        d.pop("given"),
        d.pop("derived"),
        rec.rules_version,
        rec.kamrules_version,
        tuple(d.pop("reasons")),
        {k: v for k, v in d.items() if k != "kamrules_version"},
        rec.kind,
        rec.schema,
    )
    return replace(entry, record=full, recomputed=same_outcome(entry, new))


def explain_recorded(path: Path, account: str, run: str) -> Explanation:
    """Why, why not and what it would take for an account's recorded decision in a run, recomputed from the log."""
    entries = list(iter_decisions(path, account=account, run=run))
    if len(entries) != 1:
        found = "no decision" if not entries else f"{len(entries)} decisions"
        raise problem(
            path, f"{found} for account '{account}' in run '{run}'", help="see 'kamrules audit list --run RUN'"
        )
    entry = entries[0]
    ruleset = recorded_ruleset(path, entry)
    with Evaluator(ruleset, as_of=recorded_as_of(entry)) as ev:
        return explain.explain(ev, _account(entry, ruleset))


def _account(entry: Entry, ruleset: RuleSet) -> Account:
    account, problems = account_of(entry, ruleset)
    if problems:
        raise InvalidInput(problems)
    return account


def _decide(entry: Entry, ruleset: RuleSet) -> Decision:
    with Evaluator(ruleset, as_of=recorded_as_of(entry)) as ev:
        return ev.evaluate(_account(entry, ruleset))


def recorded_as_of(entry: Entry) -> dt.date | None:
    """The review date a decision was made on, when its rule set had computed facts (else None)."""
    day = entry.record.decision.get("as_of")
    return dt.date.fromisoformat(day) if isinstance(day, str) else None


def _replay_with(entry: Entry, ruleset: RuleSet, label: str) -> Replay:
    decision = _decide(entry, ruleset)
    new = decision.to_dict()
    old = entry.record.decision_dict()
    return Replay(entry, label, new, same_outcome(entry, decision), tuple(changes(old, new)), tuple(_other(old, new)))


@dataclass
class Backtest:
    """What a new rule set would change over recorded decisions, by change type."""

    rules_dir: str
    rules_version: str
    decisions: int = 0
    accounts: int = 0  # distinct accounts among the decisions (a log holds many decisions per account)
    changed: int = 0
    changed_accounts: int = 0
    by_type: dict[str, list[dict[str, str]]] = field(default_factory=lambda: {t: [] for t in CHANGE_TYPES})
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rules": self.rules_dir,
            "rules_version": self.rules_version,
            "decisions": self.decisions,
            "accounts": self.accounts,
            "changed": self.changed,
            "changed_accounts": self.changed_accounts,
            "unchanged": self.decisions - self.changed - len(self.skipped),
            "changes": {
                t: {"count": len(v), "accounts": sorted({x["account"] for x in v}), "decisions": v}
                for t, v in self.by_type.items()
            },
            "skipped": self.skipped,
        }


def backtest(path: Path, rules_dir: str, since: str | None = None) -> Backtest:
    """Re-run recorded account decisions' given facts under another rule set and count what would change."""
    ruleset = load_ruleset(rules_dir)
    # A rules folder decides accounts; portfolio decisions are made from a whole portfolio's facts.
    entries = [e for e in list_decisions(path, since=since) if e.record.kind == "account"]
    result = Backtest(rules_dir, ruleset.version, len(entries), len({e.account for e in entries}))
    runnable = []
    for e in entries:
        account, problems = account_of(e, ruleset)
        if problems:
            result.skipped.append(
                {"decision_id": e.decision_id, "account": e.account, "problems": [p.headline() for p in problems]}
            )
        else:
            runnable.append((e, account))
    # Each decision is re-run on the review date it recorded (computed facts read it as `as_of`).
    new: dict[str, Any] = {}
    for day in {recorded_as_of(e) for e, _ in runnable}:
        group = [(e, a) for e, a in runnable if recorded_as_of(e) == day]
        with Evaluator(ruleset, as_of=day) as ev:
            new.update(zip((e.decision_id for e, _ in group), ev.evaluate_many([a for _, a in group]), strict=True))
    changed = set()
    for e, _ in runnable:
        d = new[e.decision_id]
        diff = changes(e.record.decision_dict(), d.to_dict())
        if diff:
            result.changed += 1
            changed.add(e.account)
        for kind, detail in diff:
            result.by_type[kind].append({"decision_id": e.decision_id, "account": e.account, "detail": detail})
    result.changed_accounts = len(changed)
    return result
