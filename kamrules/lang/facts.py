"""facts.yaml → the facts schema: each fact's type, allowed values or range, source and default."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kamrules.errors import Span
from kamrules.lang.computed import COMPUTED_TYPES, check_computed, parse_computed, with_expression
from kamrules.lang.model import FACT_TYPES, Fact
from kamrules.lang.problems import Problems, did_you_mean, value_problem
from kamrules.lang.schema import FACT, FACT_NAME, FACTS_YAML, check_keys, child, missing_keys, unknown_keys
from kamrules.lang.source import YNode, describe_value, read_yaml

# Keys the engine module puts in every fact it asserts, and the names expressions give a meaning of their
# own (the review date, the truth values): a fact may not shadow them.
RESERVED_NAMES = {"id", "sid", "as_of", "true", "false"}
# durable_rules stores at most 255 properties per fact; leave room for the engine's own keys.
MAX_FACTS = 240
# Beyond 2**53 floats lose integers and the engine's 64-bit integers overflow.
MAX_BOUND = 9.0e15


def load_facts(path: Path, text: str, col: Problems) -> dict[str, Fact]:
    """The facts declared in ``facts.yaml`` (its text, read from ``path``)."""
    root = read_yaml(path, text)
    facts: dict[str, Fact] = {}
    if not col.expect_kind(root, "map", "facts.yaml") or not check_keys(
        root, FACTS_YAML, "facts.yaml", col, Span(str(path), 1, 1)
    ):
        return facts
    body = child(root, "facts", FACTS_YAML, "'facts'", col)
    if body is None:
        return facts
    if len(body.value) > MAX_FACTS:
        col.add(body.span, "too many facts", expected=f"at most {MAX_FACTS}", found=str(len(body.value)))
    for fname, node in body.items():
        kspan = body.key_spans[fname]
        if not FACT_NAME.fullmatch(fname) or fname in RESERVED_NAMES:
            col.add(
                kspan,
                f"invalid fact name '{fname}'",
                expected="lower-case letters, digits and '_', a letter first, not id, sid, as_of, true or false",
                found=f"'{fname}'",
                code="bad-name",
            )
            continue
        fact = _parse_fact(fname, node, kspan, col)
        if fact and fact.source == "computed":
            expr = parse_computed(node.get("computed"), fname, text, kspan, col)
            fact = with_expression(fact, expr, str(_scalar(node, "computed", fname, col))) if expr else None
        elif fact and node.get("computed") is not None:
            computed = node.get("computed")
            assert computed is not None
            col.add(computed.span, f"'computed' is only for computed facts ('{fname}' is {fact.source})",
                    help="declare 'source: computed'", code="unknown-key")  # fmt: skip
            fact = None
        if fact:
            facts[fname] = fact
    col.rejected_facts = frozenset(body.value) - set(facts)
    return check_computed(facts, {n: body.value[n].get("computed") for n in facts if facts[n].computed}, text, col)


def _parse_fact(fname: str, node: YNode, kspan: Span, col: Problems) -> Fact | None:
    what = f"fact '{fname}'"
    if not col.expect_kind(node, "map", what):
        return None
    # An unknown key is reported but does not reject the fact: rules using it still get checked.
    unknown_keys(node, FACT, what, col)
    col_start = len(col)
    missing_keys(node, FACT, what, kspan, col)
    fields = {k: _scalar(node, k, what, col) for k in ("type", "description", "source", "unit", "label")}
    ftype, source = fields["type"], fields["source"]
    _check_choice(node, "type", ftype, FACT_TYPES, f"unknown type '{ftype}' for {what}", col)
    if source is not None and source not in ("given", "derived", "computed"):
        col.add(
            _span(node, "source"),
            f"invalid source for {what}",
            expected="given, derived or computed",
            found=describe_value(source),
        )
    if source == "computed" and ftype in FACT_TYPES and ftype not in COMPUTED_TYPES:
        col.add(
            _span(node, "type"),
            f"a computed fact cannot be of type {ftype}",
            expected="number, integer, date or boolean",
        )
    # 'values' or 'range' that is not a list is reported but, like an unknown key, keeps the fact (without it).
    tolerated = Problems()
    at = _Where(fname, ftype, kspan, col, tolerated)
    values = _enum_values(node, at)
    rng = _range(node, at)
    dnode = node.get("default")
    if dnode is not None and source != "derived":
        col.add(dnode.span, f"'default' is only for derived facts ('{fname}' is {source})", code="unknown-key")
    rejected = len(col) > col_start or values == ()
    col.extend(tolerated)
    if rejected:
        return None
    default = dnode.value if dnode is not None else None
    controllable = _controllable(node, fname, source, col)
    if controllable is None:
        return None
    label = None if fields["label"] is None else str(fields["label"])
    fact = Fact(
        fname, ftype, str(fields["description"]), source, values or None, fields["unit"], rng, default, kspan.line,
        controllable=controllable, label=label,
    )  # fmt: skip
    if dnode is not None:
        p = value_problem(fact, default, dnode.span, f"default of fact '{fname}'")
        if p:
            col.append(p)
            return None
    return fact


def _controllable(node: YNode, fname: str, source: Any, col: Problems) -> bool | None:
    """The fact's `controllable:` flag (false when absent); None when it is not a truth value or not allowed."""
    cnode = node.get("controllable")
    if cnode is None:
        return False
    if cnode.kind != "scalar" or not isinstance(cnode.value, bool):
        col.add(cnode.span, f"'controllable' of fact '{fname}' must be true or false", found=cnode.describe())
        return None
    if cnode.value and source != "given":
        col.add(cnode.span, f"only a given fact can be controllable ('{fname}' is {source})", code="unknown-key")
        return None
    return bool(cnode.value)


def _span(node: YNode, key: str) -> Span:
    value = node.get(key)
    assert value is not None
    return value.span


def _scalar(node: YNode, key: str, what: str, col: Problems) -> Any:
    value = child(node, key, FACT, f"'{key}' of {what}", col)
    return None if value is None else value.value


def _check_choice(node: YNode, key: str, value: Any, choices: tuple[str, ...], message: str, col: Problems) -> None:
    if value is not None and value not in choices:
        col.add(
            _span(node, key),
            message,
            expected="one of " + ", ".join(choices),
            found=f"'{value}'",
            help=did_you_mean(str(value), choices),
        )


@dataclass(frozen=True)
class _Where:
    """One fact's declaration being read: where its name stands and where problems go."""

    name: str
    type: Any
    span: Span  # of the fact's name
    col: Problems
    tolerated: Problems  # problems that keep the fact


def _typed_list(node: YNode, key: str, applies: bool, only_for: str, expected: str, at: _Where) -> YNode | None:
    """The list under a key that facts of some types need and the others must not have."""
    value = node.get(key)
    if not applies:
        if value is not None:
            message = f"'{key}' is only for {only_for} facts ('{at.name}' is {at.type})"
            at.col.add(value.span, message, code="unknown-key")
        return None
    if value is None:
        message = f"{at.type} fact '{at.name}' has no '{key}'"
        at.col.add(at.span, message, expected=expected, code="missing-key")
        return None
    return value if at.tolerated.expect_kind(value, "seq", f"'{key}' of fact '{at.name}'") else None


def _enum_values(node: YNode, at: _Where) -> tuple[str, ...] | None:
    """The allowed values of an enum fact (empty: none valid); 'values' on any other fact is a problem."""
    vnode = _typed_list(node, "values", at.type == "enum", "enum", "a list of allowed values", at)
    if vnode is None:
        return None
    fname, col = at.name, at.col
    values: list[str] = []
    for v in vnode.value:
        if v.kind != "scalar" or not isinstance(v.value, str) or not v.value:
            col.add(v.span, f"enum value of fact '{fname}' must be text", expected="text", found=v.describe())
        elif v.value in values:
            col.add(v.span, f"duplicate enum value '{v.value}'", expected="each value once", found=f"'{v.value}' again")
        else:
            values.append(v.value)
    return tuple(values)


def _range(node: YNode, at: _Where) -> tuple[float, float] | None:
    """The [min, max] of a number or integer fact; 'range' on any other fact is a problem."""
    numeric = at.type in ("number", "integer")
    rnode = _typed_list(node, "range", numeric, "number and integer", "range: [min, max]", at)
    if rnode is None:
        return None
    fname, col = at.name, at.col
    ends = [v.value for v in rnode.value]
    good = (
        len(ends) == 2
        and all(v.kind == "scalar" for v in rnode.value)
        and all(not isinstance(e, bool) and isinstance(e, (int, float)) and math.isfinite(e) for e in ends)
    )
    if not good or ends[0] > ends[1]:
        col.add(
            rnode.span,
            f"invalid range for fact '{fname}'",
            expected="[min, max] with two finite numbers, min <= max",
            found=str(ends),
        )
        return None
    if max(abs(ends[0]), abs(ends[1])) > MAX_BOUND:
        col.add(rnode.span, f"range of fact '{fname}' is too wide", expected="bounds within ±9.0e15", found=str(ends))
        return None
    return (ends[0], ends[1])
