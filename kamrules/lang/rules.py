"""Rule files → rules: ids, descriptions, priorities, conditions, conclusions, and their evaluation layers."""

from __future__ import annotations

import dataclasses
from typing import Any

from kamrules.errors import Span, duplicate
from kamrules.lang.computed import inputs_of
from kamrules.lang.conditions import parse_condition
from kamrules.lang.model import ALL_STAGES, STRUCTURES, Action, Fact, Rule
from kamrules.lang.problems import Problems, did_you_mean, node_value, value_problem
from kamrules.lang.schema import ACTION, RECOMMEND, RULE, RULE_FILE, RULE_ID, THEN, check_keys, child, missing_keys
from kamrules.lang.schema import unknown_keys as unknown_keys_of
from kamrules.lang.source import YNode

MAX_PRIORITY = 1_000_000
Conclusions = tuple[tuple[tuple[str, Any], ...], str | None, str | None, tuple[Action, ...]]
"""What a rule's `then` concludes: (derived facts, stage, structure, actions)."""


def parse_rule_file(root: YNode, name: str, facts: dict[str, Fact], col: Problems) -> list[Rule]:
    """The valid rules of one rule file; problems with the others are recorded."""
    if not col.expect_kind(root, "map", "a rule file"):
        return []
    if not check_keys(root, RULE_FILE, "a rule file", col, Span(name, 1, 1)):
        return []
    body = child(root, "rules", RULE_FILE, "'rules'", col)
    if body is None:
        return []
    rules = [_parse_rule(node, name, facts, col) for node in body.value]
    return [r for r in rules if r]


def _parse_rule(node: YNode, file: str, facts: dict[str, Fact], col: Problems) -> Rule | None:
    if not col.expect_kind(node, "map", "a rule"):
        return None
    n_before = len(col)
    unknown_keys_of(node, RULE, "a rule", col)
    rid = _rule_id(node, col)
    what = f"rule '{rid}'" if rid else "rule"
    missing_keys(node, RULE, what, node.span, col)
    desc = node.get("description")
    if desc is not None and (desc.kind != "scalar" or not isinstance(desc.value, str) or not desc.value.strip()):
        col.add(desc.span, f"description of {what} must be text", expected="text", found=desc.describe())
    prio = _priority(node, what, col)
    tn = child(node, "tags", RULE, f"'tags' of {what}", col)
    tags = _tags(tn, what, col) if tn is not None else ()
    wn = node.get("when")
    when = parse_condition(wn, facts, col, what) if wn is not None else None
    then = child(node, "then", RULE, f"'then' of {what}", col)
    derive, stage, structure, actions = _then(then, facts, col, what) if then is not None else ((), None, None, ())
    if len(col) > n_before or rid is None or when is None or desc is None:
        return None
    description = " ".join(str(desc.value).split())
    return Rule(rid, description, prio, when, file, node.span.line, derive, stage, structure, actions, tags)


def _rule_id(node: YNode, col: Problems) -> str | None:
    idn = node.get("id")
    if idn is None:
        return None
    if idn.kind != "scalar" or not isinstance(idn.value, str) or not RULE_ID.fullmatch(idn.value):
        col.bad(idn, "invalid rule id", "kebab-case text (a-z, 0-9, '-')", code="bad-name")
        return None
    return idn.value


def _priority(node: YNode, what: str, col: Problems) -> int:
    pn = node.get("priority")
    if pn is None:
        return 0
    value = pn.value
    if pn.kind != "scalar" or isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_PRIORITY:
        col.bad(pn, f"priority of {what} must be an integer", "an integer from -1000000 to 1000000")
        return 0
    return value


def _then(then: YNode, facts: dict[str, Fact], col: Problems, what: str) -> Conclusions:
    unknown_keys_of(then, THEN, f"'then' of {what}", col)
    if not then.value:
        col.add(then.span, f"'then' of {what} is empty", expected="derive and/or recommend")
    dn = child(then, "derive", THEN, f"'derive' of {what}", col)
    derive = _derive(dn, facts, col, what) if dn is not None else ()
    rn = child(then, "recommend", THEN, f"'recommend' of {what}", col)
    if rn is None:
        return derive, None, None, ()
    return (derive, *_recommend(rn, col, what))


def _derive(dn: YNode, facts: dict[str, Fact], col: Problems, what: str) -> tuple[tuple[str, Any], ...]:
    derive: list[tuple[str, Any]] = []
    for fname, vnode in dn.items():
        kspan = dn.key_spans[fname]
        fact = facts.get(fname)
        if fact is None:
            col.unknown_fact(kspan, fname, what, facts)
        elif not fact.derived:
            col.add(
                kspan,
                f"{what} derives '{fname}', which is a given fact",
                expected="a fact declared 'source: derived'",
                found="source: given",
                code="derive-given",
            )
        else:
            p = value_problem(fact, node_value(vnode), vnode.span, what)
            if p:
                col.append(p)
            else:
                derive.append((fname, vnode.value))
    return tuple(derive)


def _recommend(rn: YNode, col: Problems, what: str) -> tuple[str | None, str | None, tuple[Action, ...]]:
    unknown_keys_of(rn, RECOMMEND, f"'recommend' of {what}", col)
    stage = structure = None
    sn = rn.get("stage")
    if sn is not None and (sn.kind != "scalar" or sn.value not in ALL_STAGES):
        col.bad(
            sn,
            f"unknown stage in {what}",
            "one of " + ", ".join(ALL_STAGES),
            help=did_you_mean(str(sn.value), ALL_STAGES),
        )
    elif sn is not None:
        stage = sn.value
    stn = rn.get("structure")
    if stn is not None and (stn.kind != "scalar" or stn.value not in STRUCTURES):
        col.add(stn.span, f"unknown structure in {what}", expected="base or advanced", found=stn.describe())
    elif stn is not None:
        structure = stn.value
    an = child(rn, "actions", RECOMMEND, f"'actions' of {what}", col)
    actions = [_parse_action(a, what, col) for a in an.value] if an is not None else []
    return stage, structure, tuple(a for a in actions if a)


def _parse_action(node: YNode, what: str, col: Problems) -> Action | None:
    where = f"an action of {what}"
    if not col.expect_kind(node, "map", where):
        return None
    unknown_keys_of(node, ACTION, where, col)
    i, t = node.get("id"), node.get("text")
    if i is None or t is None:
        col.needs(node, where, ("id", "text"), "{id: kebab-case, text: a sentence}")
        return None
    if i.kind != "scalar" or not isinstance(i.value, str) or not RULE_ID.fullmatch(i.value):
        col.add(i.span, "invalid action id", expected="kebab-case text", found=i.describe(), code="bad-name")
        return None
    if t.kind != "scalar" or not isinstance(t.value, str) or not t.value.strip():
        col.add(t.span, "action text must be text", expected="a sentence", found=t.describe())
        return None
    return Action(i.value, " ".join(t.value.split()))


def _tags(node: YNode, what: str, col: Problems) -> tuple[str, ...]:
    """A rule's tags: each one text."""
    for t in node.value:
        if t.kind != "scalar" or not isinstance(t.value, str):
            col.add(t.span, f"a tag of {what} must be text", expected="text", found=t.describe(), code="bad-tag")
    return tuple(t.value for t in node.value if t.kind == "scalar" and isinstance(t.value, str))


def rule_ids(root: YNode) -> list[tuple[str, Span]]:
    """The rule ids a file declares with where, even in rules rejected for other reasons."""
    body = root.get("rules")
    if body is None or body.kind != "seq":
        return []
    out = []
    for node in body.value:
        idn = node.get("id")
        if idn is not None and idn.kind == "scalar" and isinstance(idn.value, str):
            out.append((idn.value, idn.span))
    return out


def check_ids(id_spans: list[tuple[str, Span]], col: Problems) -> None:
    """Each rule id once across the rules folder."""
    seen: dict[str, Span] = {}
    for rid, span in id_spans:
        if rid in seen:
            first = seen[rid]
            at = f"at {first.file}:{first.line}"
            col.append(duplicate(span, "rule id", rid, at, "duplicate-id", " across the rules folder"))
        else:
            seen[rid] = span


def stratify(rules: list[Rule], facts: dict[str, Fact], col: Problems) -> list[Rule]:
    """Give each rule its evaluation layer; a cycle among derived facts is an error."""
    derivers: dict[str, list[Rule]] = {}
    for r in rules:
        for fname, _ in r.derive:
            derivers.setdefault(fname, []).append(r)
    fact_layer: dict[str, int] = {}
    visiting: list[str] = []
    reported: set[frozenset[str]] = set()

    def layer_of_fact(fname: str) -> int:
        if fname in fact_layer:
            return fact_layer[fname]
        if fname in visiting:
            _report_cycle([*visiting[visiting.index(fname) :], fname], derivers[fname][0], reported, col)
            return 0
        visiting.append(fname)
        layer = max((layer_of_rule(r) for r in derivers.get(fname, [])), default=-1)
        visiting.pop()
        fact_layer[fname] = layer
        return layer

    def layer_of_rule(r: Rule) -> int:
        # A computed fact is read through its inputs: a rule reading it waits for the derived ones.
        reads = [f for f in _through_computed(r.reads(), facts) if facts[f].derived]
        return 1 + max((layer_of_fact(f) for f in reads), default=-1)

    return [dataclasses.replace(r, stratum=layer_of_rule(r)) for r in rules]


def _through_computed(names: set[str], facts: dict[str, Fact]) -> set[str]:
    out: set[str] = set()
    for n in names:
        fact = facts.get(n)
        if fact is not None:
            out |= inputs_of(n, facts) if fact.computed is not None else {n}
    return out


def _report_cycle(cycle: list[str], r: Rule, reported: set[frozenset[str]], col: Problems) -> None:
    key = frozenset(cycle)
    if key in reported:
        return
    reported.add(key)
    col.add(
        Span(r.file, r.line, 3),
        "cycle among derived facts: " + " → ".join(cycle),
        expected="derived facts that do not depend on themselves",
        found=f"rule '{r.id}' derives '{cycle[-1]}' from facts that depend on it",
        code="cycle",
    )
