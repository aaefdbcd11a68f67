"""Computed facts in facts.yaml (`source: computed`, `computed: "margin / revenue"`): parsed, typed, acyclic.

Problems point inside the expression: the column of the offending part, with a caret under it.
"""

from __future__ import annotations

import dataclasses

from kamrules.errors import Span
from kamrules.lang.expr import Expr, ExprError, parse, refs
from kamrules.lang.model import Fact
from kamrules.lang.problems import Problems
from kamrules.lang.source import YNode

COMPUTED_TYPES = ("number", "integer", "date", "boolean")


def inner_span(node: YNode, source: str, pos: int, length: int) -> Span:
    """Where offset ``pos`` of a scalar's text stands in its file (past an opening quote)."""
    span = node.span
    text = str(node.value)
    lines = source.splitlines()
    if "\n" in text or not 0 < span.line <= len(lines):
        return span  # a block scalar: its first line is the best place to point at
    line = lines[span.line - 1]
    col = span.col + (1 if line[span.col - 1 : span.col] in ("'", '"') else 0)
    return Span(span.file, span.line, col + pos, length)


def parse_computed(node: YNode | None, fname: str, source: str, at: Span, col: Problems) -> Expr | None:
    """The expression of a computed fact, or None with the problem recorded (syntax only; types come later)."""
    if node is None:
        col.add(
            at, f"computed fact '{fname}' has no 'computed'", expected="computed: an expression", code="missing-key"
        )
        return None
    if node.kind != "scalar" or not isinstance(node.value, str):
        col.bad(node, f"'computed' of fact '{fname}' must be an expression", "text such as 'margin / revenue'")
        return None
    try:
        return parse(node.value)
    except ExprError as e:
        _expression_problem(col, node, source, fname, e)
        return None


def _expression_problem(col: Problems, node: YNode, source: str, fname: str, e: ExprError) -> None:
    """A bad expression, pointed at inside the YAML text with a caret under the offending part."""
    code = "unknown-fact" if e.message.startswith("unknown fact") else "bad-expression"
    span = inner_span(node, source, e.pos, e.length)
    col.add(span, f"computed fact '{fname}': {e.message}", expected=e.expected, help=e.help, code=code)


def check_computed(facts: dict[str, Fact], nodes: dict[str, YNode], source: str, col: Problems) -> dict[str, Fact]:
    """The facts with every computed one type- and unit-checked and free of cycles; bad ones are dropped."""
    from kamrules.lang.exprtypes import check_declared, check_expression  # only when facts.yaml is parsed

    bad: set[str] = set()
    for name, fact in facts.items():
        if fact.computed is None:
            continue
        node = nodes[name]
        try:
            kind = check_expression(fact.expression, fact.computed, facts)
        except ExprError as e:
            _expression_problem(col, node, source, name, e)
            bad.add(name)
            continue
        why = check_declared(fact, kind)
        if why is not None:
            message, expected, help = why
            col.add(
                inner_span(node, source, 0, len(fact.expression)),
                message,
                expected=expected,
                help=help,
                code="bad-type",
            )
            bad.add(name)
    for cycle in _cycles(facts):
        first = cycle[0]
        col.add(
            inner_span(nodes[first], source, 0, len(facts[first].expression)),
            "cycle among computed facts: " + " → ".join(cycle),
            expected="computed facts that do not depend on themselves",
            found=f"'{first}' is computed from facts computed from it",
            code="cycle",
        )
        bad.update(cycle)
    col.rejected_facts = col.rejected_facts | bad
    return {n: f for n, f in facts.items() if n not in bad}


def _cycles(facts: dict[str, Fact]) -> list[list[str]]:
    """Each cycle among computed facts once, as the path that closes it (a → b → a)."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = [*path[path.index(name) :], name]
            if frozenset(cycle) not in seen:
                seen.add(frozenset(cycle))
                found.append(cycle)
            return
        fact = facts.get(name)
        if name in done or fact is None or fact.computed is None:
            return
        for dep in sorted(refs(fact.computed)):
            visit(dep, [*path, name])
        done.add(name)

    for name in facts:
        visit(name, [])
    return found


def with_expression(fact: Fact, expr: Expr, text: str) -> Fact:
    """The fact with its parsed expression attached."""
    return dataclasses.replace(fact, computed=expr, expression=text)


def inputs_of(name: str, facts: dict[str, Fact]) -> set[str]:
    """Every non-computed fact a computed fact reads, through other computed facts."""
    out: set[str] = set()
    stack, seen = [name], set()
    while stack:
        n = stack.pop()
        fact = facts.get(n)
        if n in seen or fact is None:
            continue
        seen.add(n)
        if fact.computed is None:
            out.add(n)
        else:
            stack.extend(refs(fact.computed))
    return out
