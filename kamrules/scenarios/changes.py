"""The changes of a period (set, add, multiply; constants or random values), read and checked against the facts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from kamrules.errors import Span
from kamrules.lang import Fact, Problems, RuleSet, YNode, describe_value, did_you_mean, is_finite_number, value_problem
from kamrules.scenarios.model import CHANGE_OPS, DISTRIBUTIONS, Change, Distribution

# Choice probabilities are written by hand: allow for decimal rounding, not for a typo.
PROBABILITY_TOLERANCE = 1e-6


def read_changes(node: YNode, ruleset: RuleSet, present: set[str] | None, what: str, probs: Problems) -> list[Change]:
    """The set/add/multiply changes of a mapping (a period, or one account of a period), in application order."""
    changes: list[Change] = []
    for op in CHANGE_OPS:
        cn = node.get(op)
        if cn is None or not probs.expect_kind(cn, "map", f"'{op}' of {what}"):
            continue
        for fname, vnode in cn.items():
            ch = _change(op, fname, cn.key_spans[fname], vnode, ruleset, present, what, probs)
            if ch:
                changes.append(ch)
                if present is not None:
                    present.add(fname)
    return changes


def read_table_changes(
    node: YNode, ruleset: RuleSet, table: dict[str, set[str]] | None, only: str | None, what: str, probs: Problems
) -> list[Change]:
    """Changes to every account of the table (``only`` None) or to one; add/multiply need a value in each."""
    changes = read_changes(node, ruleset, None, what, probs)
    if table is None:
        return changes
    targets = [only] if only is not None else list(table)
    for ch in changes:
        if ch.op == "set":
            for acc in targets:
                table[acc].add(ch.fact)
            continue
        missing = [acc for acc in targets if ch.fact not in table[acc]]
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            probs.add(
                ch.span,
                f"fact '{ch.fact}' has no value to {ch.op} in account{'s' if len(missing) > 1 else ''} "
                f"{shown} in {what}",
                expected="a value in the table or set in an earlier period",
                code="missing-value",
            )
    return changes


def read_account_changes(
    node: YNode | None, ruleset: RuleSet, table: dict[str, set[str]] | None, what: str, probs: Problems
) -> list[tuple[str, tuple[Change, ...]]]:
    """``accounts: {ID: {set, add, multiply}}``: changes to named accounts of the portfolio, in file order."""
    if node is None or not probs.expect_kind(node, "map", f"'accounts' of {what}"):
        return []
    out = []
    for acc_id, body in node.items():
        kspan = node.key_spans[acc_id]
        if table is not None and acc_id not in table:
            probs.add(
                kspan,
                f"unknown account '{acc_id}' in 'accounts' of {what}",
                expected="an account id of the portfolio table",
                found=f"'{acc_id}'",
                help=did_you_mean(acc_id, table),
                code="unknown-account",
            )
            continue
        if not probs.expect_kind(body, "map", f"account '{acc_id}' of {what}"):
            continue
        probs.unknown_keys(body, set(CHANGE_OPS), f"account '{acc_id}' of {what}")
        changes = read_table_changes(body, ruleset, table, acc_id, f"account '{acc_id}' of {what}", probs)
        if changes:
            out.append((acc_id, tuple(changes)))
    return out


def _fact_help(name: str, ruleset: RuleSet) -> str:
    hint = did_you_mean(name, [f.name for f in ruleset.given_facts()])
    where = f"facts are declared in {Path(ruleset.directory) / 'facts.yaml'}"
    return f"{hint} ({where})" if hint else where


def _change(
    op: str,
    fname: str,
    kspan: Span,
    vnode: YNode,
    ruleset: RuleSet,
    present: set[str] | None,
    what: str,
    probs: Problems,
) -> Change | None:
    fact = ruleset.facts.get(fname)
    if fact is None:
        probs.add(
            kspan, f"unknown fact '{fname}' in '{op}' of {what}", help=_fact_help(fname, ruleset), code="unknown-fact"
        )
        return None
    if not fact.given:
        by = "derived by the rules" if fact.derived else "computed from other facts"
        probs.add(
            kspan,
            f"fact '{fname}' is {by} and cannot be changed by a scenario",
            expected="a given fact",
            found=f"'{fname}' (source: {fact.source})",
            code="derived-given",
        )
        return None
    numeric = fact.type in ("number", "integer")
    if op != "set":
        if not numeric:
            probs.add(
                kspan,
                f"'{op}' applies to number and integer facts only ('{fname}' is {fact.type}) in {what}",
                expected="set: for this fact",
                code="bad-operator",
            )
            return None
        if present is not None and fname not in present:
            probs.add(
                kspan,
                f"fact '{fname}' has no value to {op} in {what}",
                expected="a value in the account or set in an earlier period",
                code="missing-value",
            )
            return None
    if vnode.kind == "map":
        dist = _distribution(vnode, fact, op, what, probs)
        return Change(op, fname, dist, vnode.span) if dist else None
    value = vnode.value if vnode.kind == "scalar" else vnode.plain()
    if op == "set":
        p = value_problem(fact, value, vnode.span, what)
        if p:
            probs.append(p)
            return None
        return Change(op, fname, value, vnode.span)
    if not is_finite_number(value):
        need, message = "a number", f"'{op}' of fact '{fname}' in {what} needs a number"
    elif op == "add" and fact.type == "integer" and not isinstance(value, int):
        need, message = "an integer", f"'add' to integer fact '{fname}' in {what} needs an integer"
    else:
        return Change(op, fname, value, vnode.span)
    probs.add(vnode.span, message, expected=need, found=describe_value(value), code="bad-value")
    return None


def _distribution(node: YNode, fact: Fact, op: str, what: str, probs: Problems) -> Distribution | None:
    keys = list(node.value)
    if len(keys) != 1 or keys[0] not in DISTRIBUTIONS:
        bad = next((k for k in keys if k not in DISTRIBUTIONS), keys[0] if keys else "")
        probs.add(
            node.key_spans.get(bad, node.span),
            f"a random change of '{fact.name}' in {what} needs exactly one distribution",
            expected="one of choice, normal, uniform",
            found=", ".join(keys) or "an empty mapping",
            help=did_you_mean(bad, DISTRIBUTIONS),
            code="bad-distribution",
        )
        return None
    kind = keys[0]
    body = node.value[kind]
    if not probs.expect_kind(body, "map", f"'{kind}' of '{fact.name}' in {what}"):
        return None
    if kind == "choice":
        return _choice(body, fact, op, what, probs)
    if op == "set" and fact.type not in ("number", "integer"):
        probs.add(
            node.key_spans[kind],
            f"'{kind}' gives numbers; '{fact.name}' is {fact.type} in {what}",
            expected="choice: {value: probability, ...}",
            code="bad-distribution",
        )
        return None
    names = DISTRIBUTIONS[kind]
    probs.unknown_keys(body, set(names), f"'{kind}' of '{fact.name}' in {what}")
    params = []
    for pname in names:
        pn = body.get(pname)
        if pn is None:
            probs.add(
                body.span,
                f"'{kind}' of '{fact.name}' in {what} has no '{pname}'",
                expected=", ".join(names),
                code="missing-key",
            )
            return None
        if pn.kind != "scalar" or not is_finite_number(pn.value):
            probs.bad(pn, f"'{pname}' of '{fact.name}' in {what} must be a number", "a finite number", code="bad-value")
            return None
        params.append(pn.value)
    if kind == "normal" and params[1] < 0:
        span, message = body.get("sd").span, f"'sd' of '{fact.name}' in {what} is negative"
        expected, found = "sd >= 0", describe_value(params[1])
    elif kind == "uniform" and params[0] > params[1]:
        span, message = body.span, f"'uniform' bounds of '{fact.name}' in {what} are reversed"
        expected, found = "low <= high", f"low {params[0]}, high {params[1]}"
    else:
        return Distribution(kind, tuple(params))
    probs.add(span, message, expected=expected, found=found, code="bad-value")
    return None


def _choice(body: YNode, fact: Fact, op: str, what: str, probs: Problems) -> Distribution | None:
    if not body.value:
        probs.add(body.span, f"'choice' of '{fact.name}' in {what} is empty", expected="value: probability pairs")
        return None
    options = []
    n0 = len(probs)
    for key, pnode in body.items():
        kspan = body.key_spans[key]
        value = _key_value(key, fact if op == "set" else None)
        if op == "set":
            p = value_problem(fact, value, kspan, what)
            if p:
                probs.append(p)
                continue
        elif not is_finite_number(value):
            probs.add(
                kspan,
                f"'choice' for '{op}' of '{fact.name}' in {what} needs numbers",
                expected="a number",
                found=describe_value(value),
                code="bad-value",
            )
            continue
        if pnode.kind != "scalar" or not is_finite_number(pnode.value) or not 0 <= pnode.value <= 1:
            probs.bad(
                pnode,
                f"probability of '{key}' for '{fact.name}' in {what} is invalid",
                "a number from 0 to 1",
                code="bad-value",
            )
            continue
        options.append((value, float(pnode.value)))
    if len(probs) > n0:
        return None
    total = sum(p for _, p in options)
    if abs(total - 1) > PROBABILITY_TOLERANCE:
        probs.bad_value(
            body.span, f"probabilities of '{fact.name}' in {what} do not sum to 1", "a sum of 1", f"{total:g}"
        )
        return None
    return Distribution("choice", tuple(options))


def _key_value(key: str, fact: Fact | None) -> Any:
    """A mapping key (always text in YAML here) read as a value of the fact's type."""
    ftype = fact.type if fact else "number"
    try:
        if ftype == "boolean":
            return {"true": True, "false": False}.get(key.lower(), key)
        if ftype == "integer":
            return int(key)
        if ftype == "number":
            return float(key)
        if ftype == "date":
            return dt.date.fromisoformat(key)
    except ValueError:
        return key
    return key
