"""Renderers: decisions as tables and JSON; the JSON, CSV and table helpers of every renderer. No printing here."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kamrules.engine.evaluate import Decision
from kamrules.lang.model import RuleSet
from kamrules.render.selection import note_text, notes_text
from kamrules.render.tables import tabulate
from kamrules.render.words import (
    TRACE_HEADERS,
    computation_text,
    computed_comparison,
    fmt,
    trace_rows,
)


def to_json(data: Any) -> str:
    """Stable, readable JSON."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=json_default)


def json_default(o: Any) -> Any:
    """JSON for dates and tuples."""
    if isinstance(o, dt.date):
        return o.isoformat()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"cannot serialise {type(o).__name__}")


def csv_text(rows: Sequence[dict[str, Any]], columns: list[str], lineterminator: str = "\r\n") -> str:
    """Rows of dicts as CSV with a header line."""
    import csv  # only for CSV output

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator=lineterminator)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


@dataclass(frozen=True)
class Evaluated:
    """What `kamrules evaluate` shows: the decisions, and their ids in the decision log if recorded."""

    decisions: tuple[Decision, ...]
    ruleset: RuleSet
    ids: tuple[str, ...] = ()
    notes: tuple[tuple[str, ...], ...] = ()  # per decision: note codes on how its facts were computed
    rules: dict[str, str] | None = None  # the rules folder and why it was chosen: {"path", "origin"}

    def notes_of(self, i: int) -> tuple[str, ...]:
        """The note codes of the i-th decision."""
        return self.notes[i] if i < len(self.notes) else ()


def evaluated_dicts(e: Evaluated) -> list[dict[str, Any]]:
    """Each decision as JSON data, with its notes, and its decision id when recorded."""
    data = [d.to_dict() | {"notes": [note_text(c) for c in e.notes_of(i)]} for i, d in enumerate(e.decisions)]
    if e.ids:
        data = [x | {"decision_id": i} for x, i in zip(data, e.ids, strict=True)]
    if e.rules:
        data = [x | {"rules": e.rules} for x in data]
    return data


def evaluated_json(e: Evaluated) -> str:
    """One decision as a JSON object, several as a list (`evaluated_dicts`)."""
    data = evaluated_dicts(e)
    return to_json(data[0] if len(data) == 1 else data) + "\n"


def evaluated_text(e: Evaluated) -> str:
    """Each decision as the terminal table, with the command that shows it again from the log."""
    texts = [decision_text(d, e.ruleset) for d in e.decisions]
    texts = [t + ("\n\n" + notes_text(e.notes_of(i)) if e.notes_of(i) else "") for i, t in enumerate(texts)]
    if e.ids:
        texts = [
            f"{t}\n\nrecorded as decision {i} (kamrules audit show {i})" for t, i in zip(texts, e.ids, strict=True)
        ]
    return "\n\n".join(texts) + "\n"


def decision_text(d: Decision, ruleset: RuleSet) -> str:
    """One decision as the terminal table: the recommendation, then why."""
    out = []
    title = f"Account {d.account}" + (f" — {d.name}" if d.name else "")
    out.append(title)
    out.append(f"rules {ruleset.directory} version {d.rules_version[:12]}")
    out.append("")
    rows = []
    if "key_account" in d.derived:
        rows.append(["key account", fmt(d.key_account), _by(d.derived_by.get("key_account"), ruleset)])
    move = f"{fmt(d.stage_current)} → {fmt(d.stage_recommended)}  ({d.move})"
    rows.append(["stage", move, _by(d.stage_rule, ruleset) if d.stage_rule else "no transition rule fired"])
    for fname, value in d.derived.items():
        if fname != "key_account":
            rows.append([fname.replace("_", " "), fmt(value), _by(d.derived_by[fname], ruleset)])
    if d.structure:
        rows.append(["structure", d.structure, _by(d.structure_rule, ruleset)])
    out.append(tabulate(rows, tablefmt="plain"))
    out.append("")
    if d.actions:
        out.append("Recommended actions")
        out.append(
            tabulate(
                [[i + 1, a["text"], ", ".join(a["rules"])] for i, a in enumerate(d.actions)],
                headers=["#", "action", "because of"],
                tablefmt="simple",
                maxcolwidths=[None, 70, 40],
            )
        )
    else:
        out.append("Recommended actions: none")
    out.append("")
    computed = {c.fact: c for c in d.computed}
    if d.computed:
        out.append("Computed facts" + (f" (as of {d.as_of.isoformat()})" if d.as_of is not None else ""))
        out.extend(f"  {computation_text(c)}" for c in d.computed)
        out.append("")
    out.append("Why")
    for reason in d.reasons:
        r = reason.rule
        out.append(f"  {r.id}  ({r.source}, priority {r.priority})")
        out.append(f"    {r.description}")
        table = tabulate(trace_rows(reason.conditions), headers=TRACE_HEADERS, tablefmt="simple")
        out.extend("    " + line for line in table.splitlines())
        out.extend(
            f"    {c.path}: {computed_comparison(computed[c.fact], c.op, c.value, c.value_of)}"
            for c in reason.conditions
            if c.fact in computed
        )
        if reason.relied_on:
            dep = ", ".join(f"{f}={fmt(v)} (from {by})" for f, v, by in reason.relied_on)
            out.append(f"    relies on derived: {dep}")
        for what, winner in reason.overridden_by.items():
            out.append(f"    overridden on {what} by {winner} (higher priority or earlier id)")
    if not d.reasons:
        out.append("  no rule fired")
    return "\n".join(out)


def _by(rule_id: str | None, ruleset: RuleSet) -> str:
    if rule_id is None:
        return ""
    if rule_id == "default":
        return "default (no rule concluded)"
    return f"{rule_id} ({ruleset.rule(rule_id).source})"


def table(
    rows: Iterable[dict[str, Any]], columns: list[str], fmt_name: str = "simple", maxwidth: int | None = 60
) -> str:
    """Rows of dicts as a tabulate table."""
    return tabulate(
        [[row[c] for c in columns] for row in rows], headers=columns, tablefmt=fmt_name, maxcolwidths=maxwidth
    )
