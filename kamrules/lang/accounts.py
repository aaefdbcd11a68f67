"""Account files → accounts: an id, a name and given facts, each value checked against the facts schema."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.lang.model import Account, RuleSet
from kamrules.lang.problems import Problems, check_value, fact_hint, node_value, value_problem
from kamrules.lang.schema import ACCOUNT, check_keys, child
from kamrules.lang.source import YNode, read_yaml


def load_accounts(files: Sequence[str | Path], ruleset: RuleSet) -> list[Account]:
    """Every account file, with the problems of all of them reported together."""
    problems: list[Problem] = []
    accounts = []
    for f in files:
        try:
            accounts.append(load_account(f, ruleset))
        except InvalidInput as e:
            problems.extend(e.problems)
    if problems:
        raise InvalidInput(problems)
    return accounts


def load_account(path: str | Path, ruleset: RuleSet) -> Account:
    """Read one account file and validate its facts against the rule set's schema."""
    root = read_yaml(path)
    col = Problems()
    account = account_from_node(root, str(path), ruleset, col)
    if col or account is None:
        raise InvalidInput(list(col))
    return account


def account_from_node(
    root: YNode, origin: str, ruleset: RuleSet, col: Problems, what: str = "an account file"
) -> Account | None:
    """An account (``account``, ``name``, ``facts``) from a YAML mapping: a file or a scenario's inline account."""
    n0 = len(col)
    if not col.expect_kind(root, "map", what):
        return None
    check_keys(root, ACCOUNT, what, col, Span(root.span.file, root.span.line, root.span.col))
    acc_id = _account_id(root.get("account"), col)
    nn = root.get("name")
    acc_name = None
    if nn is not None and (nn.kind != "scalar" or not isinstance(nn.value, str)):
        col.add(nn.span, "account name must be text", expected="text", found=nn.describe())
    elif nn is not None:
        acc_name = nn.value
    fn = child(root, "facts", ACCOUNT, "'facts'", col)
    facts: dict[str, Any] = {}
    spans = fn.key_spans if fn is not None else {}
    for fname, vnode in fn.items() if fn is not None else ():
        value = node_value(vnode)
        problem = fact_value_problem(ruleset, fname, value, spans[fname], vnode.span, "account")
        if problem:
            col.append(problem)
        else:
            facts[fname] = value
    if len(col) > n0 or acc_id is None:
        return None
    return Account(acc_id, facts, acc_name, origin)


def _account_id(an: YNode | None, col: Problems) -> str | None:
    if an is None:
        return None
    if an.kind != "scalar" or an.value is None or isinstance(an.value, bool) or str(an.value).strip() == "":
        col.add(an.span, "invalid account id", expected="text or a number", found=an.describe())
        return None
    # A numeric id keeps the digits as written (007 stays 007).
    acc_id = str(an.raw if isinstance(an.value, (int, float)) else an.value)
    problem = account_id_problem(acc_id, an.span)
    if problem is not None:
        col.append(problem)
        return None
    return acc_id


def account_id_problem(acc_id: str, span: Span) -> Problem | None:
    """Why an account id cannot be used (a line break or another control character in it), or None."""
    bad = next((c for c in acc_id if not c.isprintable() and c != " "), None)
    if bad is None:
        return None
    # An id is printed in tables, logs and CSV: a line break in it would forge a line of output.
    return Problem(span, "control character in an account id", "printable text", f"U+{ord(bad):04X}", code="account")


def fact_value_problem(
    ruleset: RuleSet, fname: str, value: Any, key_span: Span, value_span: Span, context: str
) -> Problem | None:
    """Why a given fact from an account (file or table) is not acceptable, or None."""
    fact = ruleset.facts.get(fname)
    if fact is not None and fact.given and check_value(fact, value) is None:
        return None  # the common case, first: a portfolio review checks millions of values
    if fact is None:
        return Problem(
            key_span, f"unknown fact '{fname}' in {context}", code="unknown-fact", help=fact_hint(fname, ruleset.facts)
        )
    if not fact.given:
        by = "derived by the rules" if fact.derived else f"computed ({fact.expression})"
        return Problem(
            key_span,
            f"fact '{fname}' is {by} and cannot be given",
            expected="a given fact",
            found=f"'{fname}' (source: {fact.source})",
            code="derived-given",
        )
    return value_problem(fact, value, value_span, context)


def observation_problem(ruleset: RuleSet, fname: str, value: Any, span: Span, context: str) -> Problem | None:
    """Why a computed value cannot reach the engine (unknown fact, wrong type, not finite), or None; never its range."""
    fact = ruleset.facts.get(fname)
    if fact is not None and fact.type in ("number", "integer") and not fact.derived:
        ok = not isinstance(value, bool) and isinstance(value, (int, float))
        ok = ok and math.isfinite(value) and (fact.type == "number" or isinstance(value, int))
        if ok:
            return None
    return fact_value_problem(ruleset, fname, value, span, span, context)
