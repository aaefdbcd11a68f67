"""`kamrules rules diff`: the rules added, removed and changed with their positions, and the accounts affected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kamrules.audit.impact import ASPECTS, ImpactReport
from kamrules.lang.diff import Change, RuleChange, RulesDiff, conclusions
from kamrules.lang.model import AllOf, AnyOf, Leaf, Not
from kamrules.render.decision import table, to_json
from kamrules.render.words import condition_text, fmt


@dataclass(frozen=True)
class DiffReport:
    """The rule diff, with its impact on a portfolio or the decision log when asked for."""

    diff: RulesDiff
    impact: ImpactReport | None = None


def _where(rule: Any, line: int, col: int = 0) -> str:
    return f"{rule.file}:{line}" + (f":{col}" if col else "")


def _value(v: Any) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_value(x)}" for k, x in v.items()) or "nothing"
    if isinstance(v, tuple):
        return ", ".join(map(str, v))
    return v if isinstance(v, str) else fmt(v)


def change_text(rc: RuleChange, c: Change) -> str:
    """One change of a rule in a line: aspect, where, old → new."""
    assert rc.new is not None
    if c.aspect in ("threshold", "condition"):
        old, new = condition_text(c.old), condition_text(c.new)
    else:
        old, new = _value(c.old), _value(c.new)
    path = f" {c.path}" if c.path else ""
    return f"  {c.aspect}{path} at {_where(rc.new, c.new_line, c.new_col)}: {old} → {new}"


def rule_change_lines(rc: RuleChange) -> list[str]:
    """The rule's headline and, for a changed rule, one line per change."""
    if rc.kind == "added":
        assert rc.new is not None
        return [f"added {rc.id} at {rc.new.source}: {condition_text(rc.new.when)} → {_value(conclusions(rc.new))}"]
    if rc.kind == "removed":
        assert rc.old is not None
        return [f"removed {rc.id} (was at {rc.old.source})"]
    assert rc.old is not None and rc.new is not None
    return [f"changed {rc.id} at {rc.new.source} (was {rc.old.source})", *(change_text(rc, c) for c in rc.changes)]


def diff_text(r: DiffReport) -> str:
    """The summary line, each rule's changes, then the impact."""
    d = r.diff
    counts = {k: sum(x.kind == k for x in d.rules) for k in ("added", "removed", "changed")}
    lines = [f"rules diff {d.old.directory} → {d.new.directory}: " + ", ".join(f"{n} {k}" for k, n in counts.items())]
    for rc in d.rules:
        lines.extend(rule_change_lines(rc))
    if r.impact is not None:
        lines.append("")
        lines.extend(_impact_lines(r.impact))
    return "\n".join(lines) + "\n"


def _impact_lines(i: ImpactReport) -> list[str]:
    by = ", ".join(f"{i.count(a)} {a}" for a in ASPECTS if i.count(a))
    head = f"impact on {i.source}: {i.affected} of {i.accounts} accounts change" + (f" ({by})" if by else "")
    if i.skipped:
        head += f"; {len(i.skipped)} skipped (their recorded facts do not fit the rules' schema)"
    if not i.impacts:
        return [head]
    rows = [
        {"account": x.account, "change": x.aspect, "old": _value(x.old), "new": _value(x.new), "rule": x.rule or ""}
        for x in i.impacts
    ]
    return [head, table(rows, list(rows[0]), "simple")]


def diff_json(r: DiffReport) -> str:
    """The diff and the impact as data."""
    rules = []
    for rc in r.diff.rules:
        rule = rc.new or rc.old
        assert rule is not None
        rules.append(
            {
                "rule": rc.id,
                "kind": rc.kind,
                "source": rule.source,
                "changes": [
                    {
                        "aspect": c.aspect,
                        "path": c.path or None,
                        "line": c.new_line,
                        "column": c.new_col or None,
                        "old": _plain(c.old),
                        "new": _plain(c.new),
                    }
                    for c in rc.changes
                ],
            }
        )
    data: dict[str, Any] = {"old": r.diff.old.directory, "new": r.diff.new.directory, "rules": rules}
    if r.impact is not None:
        i = r.impact
        data["impact"] = {
            "source": i.source,
            "accounts": i.accounts,
            "affected": i.affected,
            "by_aspect": {a: i.count(a) for a in ASPECTS},
            "skipped": list(i.skipped),
            "changes": [
                {"account": x.account, "aspect": x.aspect, "old": _plain(x.old), "new": _plain(x.new), "rule": x.rule}
                for x in i.impacts
            ],
        }
    return to_json(data) + "\n"


def _plain(v: Any) -> Any:
    if isinstance(v, (Leaf, AllOf, AnyOf, Not)):  # a condition or a comparison: its text
        return condition_text(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, tuple):
        return list(v)
    return v
