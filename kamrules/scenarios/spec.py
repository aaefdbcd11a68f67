"""Scenario files: an account (or a portfolio) over periods, simulated through the rules, with expectations that double as tests."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from kamrules.engine.evaluate import Decision, Evaluator
from kamrules.errors import InvalidInput, Problem, Span
from kamrules.inputs.tables import NOT_FACTS, AccountRow, read_account_table
from kamrules.kam.context import period_end, scenario_facts
from kamrules.kam.review import load_settings
from kamrules.lang.loader import (
    RULE_ID,
    Problems,
    account_from_node,
    did_you_mean,
    load_account,
    load_ruleset,
    value_problem,
)
from kamrules.lang.model import ALL_STAGES, STAGES, STRUCTURES, Account, Fact, RuleSet, stage_index
from kamrules.lang.source import YNode, describe_value, is_finite_number, read_yaml

DEFAULT_RULES = "rules"
DEFAULT_MONTHS_PER_PERIOD = 3
DEFAULT_TARGET = "partnership-KAM"
MOVES = ("advance", "hold", "regress", "uncouple", "recover")
SCENARIO_KEYS = {"name", "description", "rules", "account", "account_file", "portfolio", "months_per_period", "periods"}
PERIOD_KEYS = {"period", "events", "set", "add", "multiply", "accounts", "refuse_move", "expect"}
CHANGE_OPS = ("set", "add", "multiply")  # applied in this order within a period
EXPECT_KEYS = {"stage", "move", "key_account", "structure", "actions", "actions_absent", "fired", "key_accounts"}
# A portfolio scenario checks the portfolio review, not one account's decision.
PORTFOLIO_EXPECT_KEYS = {"structure", "key_accounts"}
PORTFOLIO_ONLY_EXPECT_KEYS = {"key_accounts"}
# Columns of an account table that are not facts (the portfolio review reads them itself).
DISTRIBUTIONS = {"normal": ("mean", "sd"), "uniform": ("low", "high"), "choice": ()}
# Choice probabilities are written by hand: allow for decimal rounding, not for a typo.
PROBABILITY_TOLERANCE = 1e-6


# ---------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Distribution:
    """A random value: normal(mean, sd), uniform(low, high) or a choice among weighted values."""

    kind: str
    params: tuple  # (mean, sd) | (low, high) | ((value, probability), ...)

    def central(self) -> Any:
        """The value used on the expected path: the mean, the midpoint, or the most probable choice."""
        if self.kind == "normal":
            return self.params[0]
        if self.kind == "uniform":
            return (self.params[0] + self.params[1]) / 2
        return max(self.params, key=lambda vp: vp[1])[0]  # max keeps the first of equal weights

    def draw(self, rng: random.Random) -> Any:
        """One random value."""
        if self.kind == "normal":
            return rng.gauss(*self.params)
        if self.kind == "uniform":
            return rng.uniform(*self.params)
        u, acc = rng.random(), 0.0
        for value, p in self.params:
            acc += p
            if u < acc:
                return value
        return self.params[-1][0]  # u landed in the rounding gap at the top


@dataclass(frozen=True)
class Change:
    """One change to a given fact in a period: set it, add to it, or multiply it."""

    op: str
    fact: str
    value: Any  # a constant or a Distribution
    span: Span


@dataclass(frozen=True)
class Expectation:
    """One thing that must hold at the end of a period."""

    kind: str  # stage | move | key_account | structure | action | no_action | fired | key_accounts
    value: Any
    span: Span

    def describe(self) -> str:
        """The expectation in words, as shown on PASS/FAIL lines."""
        if self.kind == "action":
            return f"actions include {self.value}"
        if self.kind == "no_action":
            return f"actions exclude {self.value}"
        if self.kind == "fired":
            return f"fired include {self.value}"
        shown = str(self.value).lower() if isinstance(self.value, bool) else self.value
        return f"{self.kind} = {shown}"


@dataclass(frozen=True)
class Period:
    """One period of a scenario: its changes, events, whether the move is refused, and expectations.

    In a portfolio scenario ``changes`` apply to every account, then ``account_changes`` to the named ones.
    """

    label: str
    changes: tuple[Change, ...]
    events: tuple[str, ...]
    refuse_move: bool
    expect: tuple[Expectation, ...]
    span: Span
    account_changes: tuple[tuple[str, tuple[Change, ...]], ...] = ()

    @property
    def random(self) -> bool:
        """True when a change draws a random value."""
        every = list(self.changes) + [c for _, chs in self.account_changes for c in chs]
        return any(isinstance(c.value, Distribution) for c in every)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: the starting account (or portfolio), the rule set and the periods."""

    name: str
    description: str
    file: str
    ruleset: RuleSet
    account: Account | None  # None in a portfolio scenario
    periods: tuple[Period, ...]
    months_per_period: int = DEFAULT_MONTHS_PER_PERIOD
    portfolio: tuple[AccountRow, ...] = ()  # the starting rows of a portfolio scenario
    portfolio_file: str | None = None
    portfolio_span: Span | None = None

    @property
    def is_portfolio(self) -> bool:
        """True when the scenario reviews a portfolio (an account table) rather than one account."""
        return self.portfolio_file is not None

    @property
    def random(self) -> bool:
        """True when some change is random (Monte Carlo makes sense)."""
        return any(p.random for p in self.periods)


# ---------------------------------------------------------------------------- loading


def load_scenario(path: str | Path, rulesets: dict[str, RuleSet] | None = None) -> Scenario:
    """Read and validate one scenario file; every problem is reported with file:line:col."""
    name = str(path)
    root = read_yaml(path)
    probs = Problems()
    if not probs.expect_kind(root, "map", "a scenario file"):
        raise InvalidInput(probs)
    probs.unknown_keys(root, SCENARIO_KEYS, "a scenario file")
    top = Span(name, 1, 1)

    sname = ""
    nn = root.get("name")
    if nn is None:
        probs.add(top, "missing key 'name'", expected="name: a-kebab-case-name", code="missing-key")
    elif nn.kind != "scalar" or not isinstance(nn.value, str) or not RULE_ID.match(nn.value):
        probs.add(
            nn.span,
            "invalid scenario name",
            expected="kebab-case text (a-z, 0-9, '-')",
            found=nn.describe(),
            code="bad-name",
        )
    else:
        sname = nn.value
    desc = ""
    dn = root.get("description")
    if dn is not None:
        if dn.kind != "scalar" or not isinstance(dn.value, str):
            probs.add(dn.span, "description must be text", expected="text", found=dn.describe())
        else:
            desc = " ".join(dn.value.split())
    months = DEFAULT_MONTHS_PER_PERIOD
    mn = root.get("months_per_period")
    if mn is not None:
        if (
            mn.kind != "scalar"
            or isinstance(mn.value, bool)
            or not isinstance(mn.value, int)
            or not 0 <= mn.value <= 120
        ):
            probs.add(mn.span, "invalid months_per_period", expected="an integer from 0 to 120", found=mn.describe())
        else:
            months = mn.value

    ruleset = _ruleset(root, top, probs, rulesets)
    if ruleset is None:
        raise InvalidInput(probs)
    pn = root.get("portfolio")
    if pn is not None:
        for other in ("account", "account_file"):
            if root.get(other) is not None:
                probs.add(
                    root.key_spans[other],
                    "a scenario needs exactly one of 'account', 'account_file' and 'portfolio'",
                    expected="portfolio: PATH alone",
                    found=f"'portfolio' and '{other}'",
                    code="missing-key",
                )
        rows = _portfolio(pn, probs)
        periods = _periods(root, top, ruleset, None, probs, rows)
        if probs:
            raise InvalidInput(probs)
        return Scenario(sname, desc, name, ruleset, None, tuple(periods), months, tuple(rows or ()), pn.value, pn.span)
    account = _account(root, top, ruleset, probs)
    periods = _periods(root, top, ruleset, account, probs)
    if probs:
        raise InvalidInput(probs)
    return Scenario(sname, desc, name, ruleset, account, tuple(periods), months)


_CWD_HELP = "relative paths are resolved against the current directory (run from the project root)"


def _path(node: YNode, what: str, kind: str, example: str, expected: str, probs: Problems) -> str | None:
    """The existing file or folder a scenario key names, or None with the problem recorded."""
    if node.kind != "scalar" or not isinstance(node.value, str) or not node.value.strip():
        probs.add(node.span, f"'{what}' must be a {kind} path", expected=example, found=node.describe())
        return None
    exists = Path(node.value).is_dir() if kind == "folder" else Path(node.value).is_file()
    if not exists:
        label = {"portfolio": "portfolio file", "account_file": "account file", "rules": "rules folder"}[what]
        probs.add(node.span, f"{label} '{node.value}' not found", expected=expected, help=_CWD_HELP)
        return None
    return node.value


def _portfolio(pn: YNode, probs: Problems) -> list[AccountRow] | None:
    """The account table of a portfolio scenario; its values are checked by the portfolio review."""
    path = _path(
        pn,
        "portfolio",
        "file",
        "text, e.g. scenarios/portfolios/x.csv",
        "an account table (csv, xlsx, json, yaml)",
        probs,
    )
    if path is None:
        return None
    try:
        return read_account_table(path)
    except InvalidInput as e:
        probs.extend(e.problems)
        return None


def _ruleset(root: YNode, top: Span, probs: Problems, cache: dict[str, RuleSet] | None) -> RuleSet | None:
    rn = root.get("rules")
    rules_dir = DEFAULT_RULES
    if rn is not None:
        rules_dir = _path(rn, "rules", "folder", "text, e.g. rules", "a folder with facts.yaml and rule files", probs)
        if rules_dir is None:
            return None
    elif not Path(rules_dir).is_dir():
        probs.add(
            top,
            f"rules folder '{rules_dir}' not found",
            expected="a folder with facts.yaml and rule files",
            help=_CWD_HELP,
        )
        return None
    key = str(Path(rules_dir).resolve())
    if cache is not None and key in cache:
        return cache[key]
    rs = load_ruleset(rules_dir)  # problems in rule files are reported at their own positions
    if cache is not None:
        cache[key] = rs
    return rs


def _account(root: YNode, top: Span, ruleset: RuleSet, probs: Problems) -> Account | None:
    an, fn = root.get("account"), root.get("account_file")
    if (an is None) == (fn is None):
        probs.add(
            fn.span if an is not None else top,
            "a scenario needs exactly one of 'account', 'account_file' and 'portfolio'",
            expected="account: {account, facts}, account_file: PATH or portfolio: PATH",
            found="both 'account' and 'account_file'" if an is not None else "none of them",
            code="missing-key",
        )
        return None
    if fn is not None:
        path = _path(fn, "account_file", "file", "text", "an account file", probs)
        if path is None:
            return None
        try:
            acc = load_account(path, ruleset)
        except InvalidInput as e:
            probs.extend(e.problems)
            return None
        return _with_stage(acc, fn.span, probs)
    acc = account_from_node(an, str(top.file), ruleset, probs, "'account'")
    return _with_stage(acc, an.get("facts").span, probs) if acc else None


def _with_stage(acc: Account, span: Span, probs: Problems) -> Account | None:
    # The simulation moves the stage from period to period, so it must start somewhere.
    if "stage" not in acc.facts:
        probs.add(
            span,
            f"account '{acc.id}' has no 'stage' fact",
            expected="a starting stage, e.g. stage: pre-KAM",
            code="missing-key",
        )
        return None
    return acc


def _periods(
    root: YNode,
    top: Span,
    ruleset: RuleSet,
    account: Account | None,
    probs: Problems,
    rows: list[AccountRow] | None = None,
) -> list[Period]:
    pn = root.get("periods")
    if pn is None:
        probs.add(top, "missing key 'periods'", expected="a 'periods:' list", code="missing-key")
        return []
    if not probs.expect_kind(pn, "seq", "'periods'"):
        return []
    if not pn.value:
        probs.add(pn.span, "'periods' is empty", expected="at least one period", found="an empty list")
        return []
    # Facts that have a value at each point; add/multiply need one. Sets always set, so this is static.
    present = set(account.facts) if account else None
    # In a portfolio: the facts with a value, per account (table order); None when the table is unreadable.
    table = (
        {r.account: {f for f, v in r.facts.items() if f not in NOT_FACTS and v is not None} for r in rows}
        if rows is not None
        else None
    )
    portfolio = root.get("portfolio") is not None
    labels: dict[str, Span] = {}
    out = []
    for i, node in enumerate(pn.value):
        period = _period(node, i, ruleset, present, labels, probs, portfolio, table)
        if period:
            out.append(period)
    return out


def _period(
    node: YNode,
    i: int,
    ruleset: RuleSet,
    present: set[str] | None,
    labels: dict[str, Span],
    probs: Problems,
    portfolio: bool = False,
    table: dict[str, set[str]] | None = None,
) -> Period | None:
    if not probs.expect_kind(node, "map", "a period"):
        return None
    probs.unknown_keys(node, PERIOD_KEYS, "a period")
    label = f"P{i + 1}"
    ln = node.get("period")
    if ln is not None:
        if ln.kind != "scalar" or ln.value is None or isinstance(ln.value, (bool, float)) or not str(ln.raw).strip():
            probs.add(ln.span, "invalid period label", expected="text, e.g. 2027Q1", found=ln.describe())
        else:
            label = str(ln.raw)
    if label in labels:
        probs.add(
            ln.span if ln else node.span,
            f"duplicate period label '{label}'",
            expected="each label once",
            found=f"'{label}' again (first at line {labels[label].line})",
            code="duplicate-id",
        )
    labels[label] = ln.span if ln else node.span
    what = f"period '{label}'"
    events: list[str] = []
    en = node.get("events")
    if en is not None:
        items = en.value if en.kind == "seq" else [en]
        for e in items:
            if e.kind != "scalar" or not isinstance(e.value, str) or not e.value.strip():
                probs.add(e.span, f"an event of {what} must be text", expected="a short label", found=e.describe())
            else:
                events.append(e.value.strip())
    refuse = False
    rn = node.get("refuse_move")
    if rn is not None:
        if rn.kind != "scalar" or not isinstance(rn.value, bool):
            probs.add(
                rn.span, f"'refuse_move' of {what} must be true or false", expected="true or false", found=rn.describe()
            )
        else:
            refuse = rn.value
    if portfolio:
        changes = _table_changes(node, ruleset, table, None, what, probs)
        account_changes = _account_changes(node.get("accounts"), ruleset, table, what, probs)
    else:
        changes = _changes(node, ruleset, present, what, probs)
        account_changes = []
        an = node.get("accounts")
        if an is not None:
            probs.add(
                node.key_spans["accounts"],
                f"'accounts' of {what} applies to portfolio scenarios only",
                expected="set/add/multiply for the scenario's one account",
                found="'accounts'",
                help="a scenario with 'portfolio: TABLE' changes named accounts under 'accounts:'",
                code="unknown-key",
            )
    expect = _expectations(node.get("expect"), ruleset, what, probs, portfolio)
    return Period(label, tuple(changes), tuple(events), refuse, tuple(expect), node.span, tuple(account_changes))


def _changes(node: YNode, ruleset: RuleSet, present: set[str] | None, what: str, probs: Problems) -> list[Change]:
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


def _table_changes(
    node: YNode, ruleset: RuleSet, table: dict[str, set[str]] | None, only: str | None, what: str, probs: Problems
) -> list[Change]:
    """Changes to every account of the table (``only`` None) or to one; add/multiply need a value in each."""
    changes = _changes(node, ruleset, None, what, probs)
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


def _account_changes(
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
        changes = _table_changes(body, ruleset, table, acc_id, f"account '{acc_id}' of {what}", probs)
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
    if fact.derived:
        probs.add(
            kspan,
            f"fact '{fname}' is derived by the rules and cannot be changed by a scenario",
            expected="a given fact",
            found=f"'{fname}' (source: derived)",
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
        probs.add(
            vnode.span,
            f"'{op}' of fact '{fname}' in {what} needs a number",
            expected="a number",
            found=describe_value(value),
            code="bad-value",
        )
        return None
    if op == "add" and fact.type == "integer" and not isinstance(value, int):
        probs.add(
            vnode.span,
            f"'add' to integer fact '{fname}' in {what} needs an integer",
            expected="an integer",
            found=describe_value(value),
            code="bad-value",
        )
        return None
    return Change(op, fname, value, vnode.span)


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
            probs.add(
                pn.span,
                f"'{pname}' of '{fact.name}' in {what} must be a number",
                expected="a finite number",
                found=pn.describe(),
                code="bad-value",
            )
            return None
        params.append(pn.value)
    if kind == "normal" and params[1] < 0:
        probs.add(
            body.get("sd").span,
            f"'sd' of '{fact.name}' in {what} is negative",
            expected="sd >= 0",
            found=describe_value(params[1]),
            code="bad-value",
        )
        return None
    if kind == "uniform" and params[0] > params[1]:
        probs.add(
            body.span,
            f"'uniform' bounds of '{fact.name}' in {what} are reversed",
            expected="low <= high",
            found=f"low {params[0]}, high {params[1]}",
            code="bad-value",
        )
        return None
    return Distribution(kind, tuple(params))


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
            probs.add(
                pnode.span,
                f"probability of '{key}' for '{fact.name}' in {what} is invalid",
                expected="a number from 0 to 1",
                found=pnode.describe(),
                code="bad-value",
            )
            continue
        options.append((value, float(pnode.value)))
    if len(probs) > n0:
        return None
    total = sum(p for _, p in options)
    if abs(total - 1) > PROBABILITY_TOLERANCE:
        probs.add(
            body.span,
            f"probabilities of '{fact.name}' in {what} do not sum to 1",
            expected="a sum of 1",
            found=f"{total:g}",
            code="bad-value",
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


def _expectations(
    node: YNode | None, ruleset: RuleSet, what: str, probs: Problems, portfolio: bool = False
) -> list[Expectation]:
    if node is None or not probs.expect_kind(node, "map", f"'expect' of {what}"):
        return []
    allowed = PORTFOLIO_EXPECT_KEYS if portfolio else EXPECT_KEYS - PORTFOLIO_ONLY_EXPECT_KEYS
    probs.unknown_keys(node, allowed, f"'expect' of {what}")
    out = []
    action_ids = {a.id for r in ruleset.rules for a in r.actions}
    rule_ids = {r.id for r in ruleset.rules}
    choices = {"stage": ALL_STAGES, "move": MOVES, "structure": STRUCTURES}
    for key, vnode in node.items():
        if key not in allowed:
            continue
        if key in choices:
            if vnode.kind != "scalar" or vnode.value not in choices[key]:
                probs.add(
                    vnode.span,
                    f"unknown {key} expected in {what}",
                    expected="one of " + ", ".join(choices[key]),
                    found=vnode.describe(),
                    help=did_you_mean(str(vnode.value), choices[key]),
                    code="bad-value",
                )
            else:
                out.append(Expectation(key, vnode.value, vnode.span))
        elif key == "key_accounts":
            v = vnode.value
            if vnode.kind != "scalar" or isinstance(v, bool) or not isinstance(v, int) or v < 0:
                probs.add(
                    vnode.span,
                    f"'key_accounts' expected in {what} must be a count",
                    expected="an integer >= 0",
                    found=vnode.describe(),
                    code="bad-value",
                )
            else:
                out.append(Expectation(key, v, vnode.span))
        elif key == "key_account":
            if vnode.kind != "scalar" or not isinstance(vnode.value, bool):
                probs.add(
                    vnode.span,
                    f"'key_account' expected in {what} must be true or false",
                    expected="true or false",
                    found=vnode.describe(),
                    code="bad-value",
                )
            else:
                out.append(Expectation(key, vnode.value, vnode.span))
        elif key in ("actions", "actions_absent", "fired"):
            known, noun = (rule_ids, "rule") if key == "fired" else (action_ids, "action")
            kind = {"actions": "action", "actions_absent": "no_action", "fired": "fired"}[key]
            items = vnode.value if vnode.kind == "seq" else [vnode]
            for item in items:
                if item.kind != "scalar" or item.value not in known:
                    probs.add(
                        item.span,
                        f"unknown {noun} id in '{key}' of {what}",
                        expected=f"an {noun} id from {ruleset.directory}"
                        if noun == "action"
                        else f"a {noun} id from {ruleset.directory}",
                        found=item.describe(),
                        help=did_you_mean(str(item.value), known),
                        code=f"unknown-{noun}",
                    )
                else:
                    out.append(Expectation(kind, item.value, item.span))
    return out


def load_scenarios(paths: Sequence[str | Path]) -> list[Scenario]:
    """Every scenario in the given files and folders (*.yaml, not recursive); all problems reported together."""
    files: list[Path] = []
    probs = Problems()
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.yaml"))
            if not found:
                probs.add(Span(str(p)), "no scenario files", expected="*.yaml files in the folder")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            probs.add(Span(str(p)), "scenario file not found")
    cache: dict[str, RuleSet] = {}
    scenarios: list[Scenario] = []
    seen: dict[str, str] = {}
    for f in files:
        try:
            sc = load_scenario(f, cache)
        except InvalidInput as e:
            probs.extend(p for p in e.problems if p not in probs)  # a shared bad rules folder reports once
            continue
        if sc.name in seen:
            probs.add(
                Span(str(f), 1, 1),
                f"duplicate scenario name '{sc.name}'",
                expected="each name once",
                found=f"also in {seen[sc.name]}",
                code="duplicate-id",
            )
        seen[sc.name] = str(f)
        scenarios.append(sc)
    if probs:
        raise InvalidInput(probs)
    return scenarios


# ---------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class PeriodResult:
    """What happened in one period of one run."""

    label: str
    events: tuple[str, ...]
    decision: Decision
    refused: bool
    stage: str  # where the relationship stands at the end of the period
    notes: tuple[str, ...] = ()

    @property
    def action_ids(self) -> list[str]:
        """Ids of the recommended actions."""
        return [a["id"] for a in self.decision.actions]

    def to_dict(self) -> dict:
        """JSON-ready form."""
        d = self.decision
        return {
            "period": self.label,
            "events": list(self.events),
            "stage_before": d.stage_current,
            "stage_recommended": d.stage_recommended,
            "move": d.move,
            "stage_rule": d.stage_rule,
            "refused": self.refused,
            "stage": self.stage,
            "key_account": d.key_account,
            "structure": d.structure,
            "actions": self.action_ids,
            "fired": d.fired,
            "notes": list(self.notes),
            "facts": {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in d.given.items()},
        }


@dataclass(frozen=True)
class PortfolioPeriodResult:
    """What happened in one period of a portfolio scenario: the review's structure and every account's move."""

    label: str
    events: tuple[str, ...]
    structure: Decision  # the PORTFOLIO pseudo-account's decision
    portfolio_facts: dict[str, Any]
    key_accounts: tuple[str, ...]  # ids of the key accounts, table order
    moves: dict[str, str]  # account → recommended move, for accounts with a stage
    stages: dict[str, str]  # account → stage at the end of the period
    refused: bool
    notes: tuple[str, ...] = ()

    def move_counts(self) -> dict[str, int]:
        """How many accounts got each recommended move (moves nobody got are left out), in MOVES order."""
        c = Counter(self.moves.values())
        return {m: c[m] for m in MOVES if c[m]}

    def to_dict(self) -> dict:
        """JSON-ready form."""
        s = self.structure
        return {
            "period": self.label,
            "events": list(self.events),
            "key_accounts": len(self.key_accounts),
            "key_account_ids": list(self.key_accounts),
            "structure": s.structure,
            "structure_rule": s.structure_rule,
            "portfolio_facts": dict(self.portfolio_facts),
            "moves": self.move_counts(),
            "refused": self.refused,
            "accounts": {a: {"move": self.moves.get(a), "stage": st} for a, st in self.stages.items()},
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Timeline:
    """One run of a scenario, period by period."""

    scenario: Scenario
    periods: tuple[PeriodResult | PortfolioPeriodResult, ...]

    def to_dict(self) -> dict:
        """JSON-ready form."""
        s = self.scenario
        if s.is_portfolio:
            return {
                "scenario": s.name,
                "file": s.file,
                "description": s.description,
                "portfolio": s.portfolio_file,
                "accounts": len(s.portfolio),
                "rules": s.ruleset.directory,
                "rules_version": s.ruleset.version,
                "periods": [p.to_dict() for p in self.periods],
            }
        return {
            "scenario": s.name,
            "file": s.file,
            "description": s.description,
            "account": s.account.id,
            "rules": s.ruleset.directory,
            "rules_version": s.ruleset.version,
            "start_stage": s.account.facts.get("stage"),
            "periods": [p.to_dict() for p in self.periods],
        }


def _clamp(fact: Fact, value: Any) -> tuple[Any, str | None]:
    # Documented choice: a change may not push a fact outside its declared range, it stops at the bound.
    # Random draws (a normal around a score) would otherwise abort Monte Carlo runs at random.
    if fact.type == "integer":
        value = int(round(value))
    if fact.range:
        lo, hi = fact.range
        if value < lo or value > hi:
            bound = lo if value < lo else hi
            bound = int(bound) if fact.type == "integer" else bound
            return bound, f"{fact.name} clamped to {bound}"
    return value, None


def _apply(
    changes: Sequence[Change],
    facts: dict,
    ruleset: RuleSet,
    draw: Callable[[Distribution], Any],
    notes: list[str],
    table: bool = False,
    who: str = "",
) -> None:
    # table: the facts come from an account table, where numbers are Decimals (the ABC classes need them exact).
    for ch in changes:
        amount = draw(ch.value) if isinstance(ch.value, Distribution) else ch.value
        fact = ruleset.facts[ch.fact]
        numeric = fact.type in ("number", "integer")
        if table and numeric and ch.op != "set":
            amount = Decimal(str(amount))
            current = facts[ch.fact] if isinstance(facts[ch.fact], Decimal) else Decimal(str(facts[ch.fact]))
            value = current + amount if ch.op == "add" else current * amount
        elif ch.op == "set":
            value = amount
        elif ch.op == "add":
            value = facts[ch.fact] + amount
        else:
            value = facts[ch.fact] * amount
        if numeric:
            value, note = _clamp(fact, value)
            if note:
                notes.append(who + note)
            if table and fact.type == "number" and not isinstance(value, Decimal):
                value = Decimal(str(value))
        facts[ch.fact] = value


def _run(
    scenario: Scenario, ev: Evaluator, runs: int, draw: Callable[[Distribution], Any]
) -> Iterator[tuple[Period, list[PeriodResult]]]:
    """Every run advanced together, one period at a time: one engine batch per period."""
    rs = scenario.ruleset
    settings = load_settings(rs.directory)
    facts = [dict(scenario.account.facts) for _ in range(runs)]
    mis = rs.facts.get("months_in_stage")
    for period in scenario.periods:
        notes: list[list[str]] = [[] for _ in range(runs)]
        for r in range(runs):
            _apply(period.changes, facts[r], rs, draw, notes[r])
        # the same computed facts (potential, score, capacity, review dates) as evaluate and portfolio
        accounts = [
            Account(
                scenario.account.id,
                scenario_facts(facts[r], rs, settings, period.label),
                scenario.account.name,
                scenario.file,
            )
            for r in range(runs)
        ]
        decisions = ev.evaluate_many(accounts)
        results = []
        for r, d in enumerate(decisions):
            before = facts[r]["stage"]
            end = before if period.refuse_move or d.stage_recommended is None else d.stage_recommended
            results.append(PeriodResult(period.label, period.events, d, period.refuse_move, end, tuple(notes[r])))
            # The recommendation of this period becomes the state of the next.
            facts[r]["stage"] = end  # evaluate_many copied the facts, so the decision keeps its own
            if mis is not None and "months_in_stage" in facts[r]:
                months = 0 if end != before else facts[r]["months_in_stage"] + scenario.months_per_period
                facts[r]["months_in_stage"] = _clamp(mis, months)[0]
        yield period, results


def _review_decisions(rv: Any) -> list[Decision]:
    """Every account's decision in a portfolio review (the one place that reads the review's accounts)."""
    return [a.decision for a in rv.accounts]


def _run_portfolio(scenario: Scenario, draw: Callable[[Distribution], Any]) -> Iterator[PortfolioPeriodResult]:
    """Period by period: apply the changes to the rows, review the portfolio, take every account's stage move."""
    from kamrules.kam import review as pf  # imported here: single-account scenarios do not need the review

    rs = scenario.ruleset
    settings = pf.load_settings(rs.directory)
    rows = list(scenario.portfolio)
    facts = {r.account: dict(r.facts) for r in rows}
    mis = rs.facts.get("months_in_stage")
    for period in scenario.periods:
        notes: list[str] = []
        for r in rows:
            _apply(period.changes, facts[r.account], rs, draw, notes, True, f"{r.account}: ")
        for acc, changes in period.account_changes:
            _apply(changes, facts[acc], rs, draw, notes, True, f"{acc}: ")
        rows_now = [AccountRow(r.account, dict(facts[r.account]), r.span) for r in rows]
        rv = pf.review(rows_now, rs, settings, as_of=period_end(period.label))
        decisions = {d.account: d for d in _review_decisions(rv)}
        moves: dict[str, str] = {}
        stages: dict[str, str] = {}
        for r in rows:
            d, f = decisions.get(r.account), facts[r.account]
            if d is None or "stage" not in f:
                continue
            before = f["stage"]
            if d.move is not None:
                moves[r.account] = d.move
            end = before if period.refuse_move or d.stage_recommended is None else d.stage_recommended
            stages[r.account] = end
            # The recommendation of this period becomes the state of the next, as for one account.
            f["stage"] = end
            if mis is not None and f.get("months_in_stage") is not None:
                months = 0 if end != before else f["months_in_stage"] + scenario.months_per_period
                f["months_in_stage"] = _clamp(mis, months)[0]
        keys = tuple(
            r.account for r in rows if decisions.get(r.account) is not None and decisions[r.account].key_account
        )
        yield PortfolioPeriodResult(
            period.label,
            period.events,
            rv.structure,
            dict(rv.portfolio_facts),
            keys,
            moves,
            stages,
            period.refuse_move,
            tuple(notes),
        )


def simulate(scenario: Scenario, evaluator: Evaluator | None = None) -> Timeline:
    """The expected path: random changes take their central value (mean, midpoint, most probable choice)."""
    if scenario.is_portfolio:  # the portfolio review runs its own engine
        return Timeline(scenario, tuple(_run_portfolio(scenario, Distribution.central)))
    ev = evaluator or Evaluator(scenario.ruleset)
    try:
        results = [res[0] for _, res in _run(scenario, ev, 1, Distribution.central)]
    finally:
        if evaluator is None:
            ev.close()
    return Timeline(scenario, tuple(results))


# ---------------------------------------------------------------------------- Monte Carlo


@dataclass(frozen=True)
class MonteCarlo:
    """Stage probabilities per period over many random runs, and the time to reach a target stage."""

    scenario: str
    runs: int
    seed: int
    target: str
    periods: tuple[str, ...]
    counts: tuple[dict[str, int], ...]  # per period: stage → runs ending the period there (every stage listed)
    times: tuple[int, ...]  # periods taken to reach the target, one per run that reached it

    def probabilities(self) -> list[dict[str, float]]:
        """Per period, the share of runs in each stage (sums to 1)."""
        return [{s: c / self.runs for s, c in row.items()} for row in self.counts]

    @property
    def never_share(self) -> float:
        """Share of runs that never reach the target stage."""
        return 1 - len(self.times) / self.runs

    @property
    def mean_time(self) -> float | None:
        """Mean periods to reach the target, among runs that reach it."""
        return sum(self.times) / len(self.times) if self.times else None

    def percentile(self, p: float) -> int | None:
        """Nearest-rank percentile of the time to reach the target, among runs that reach it."""
        if not self.times:
            return None
        ordered = sorted(self.times)
        return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "scenario": self.scenario,
            "runs": self.runs,
            "seed": self.seed,
            "periods": [
                {"period": label, "counts": dict(c), "probabilities": p}
                for label, c, p in zip(self.periods, self.counts, self.probabilities())
            ],
            "time_to_target": {
                "target": self.target,
                "reached": len(self.times),
                "never_share": self.never_share,
                "mean_periods": self.mean_time,
                "p10": self.percentile(10),
                "p50": self.percentile(50),
                "p90": self.percentile(90),
            },
        }


def reached(stage: str, target: str) -> bool:
    """True when a stage is the target or later on the path (uncoupling-KAM reaches only itself)."""
    if target not in STAGES or stage not in STAGES:
        return stage == target
    return stage_index(stage) >= stage_index(target)


def monte_carlo(
    scenario: Scenario, runs: int, seed: int, target: str = DEFAULT_TARGET, evaluator: Evaluator | None = None
) -> MonteCarlo:
    """Run the scenario ``runs`` times with random.Random(seed); reproducible for a given seed."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    if scenario.is_portfolio:
        raise InvalidInput(
            [
                Problem(
                    scenario.portfolio_span or Span(scenario.file, 1, 1),
                    "Monte Carlo (--runs) is not supported for portfolio scenarios",
                    expected="kamrules simulate without --runs (the expected path)",
                    found=f"a portfolio scenario ({len(scenario.portfolio)} accounts)",
                    code="unsupported",
                )
            ]
        )
    rng = random.Random(seed)
    ev = evaluator or Evaluator(scenario.ruleset)
    start = scenario.account.facts["stage"]
    first: list[int | None] = [0 if reached(start, target) else None] * runs
    counts = []
    try:
        for n, (period, results) in enumerate(_run(scenario, ev, runs, lambda d: d.draw(rng)), start=1):
            row = dict.fromkeys(ALL_STAGES, 0)
            for r, res in enumerate(results):
                row[res.stage] += 1
                if first[r] is None and reached(res.stage, target):
                    first[r] = n
            counts.append(row)
    finally:
        if evaluator is None:
            ev.close()
    return MonteCarlo(
        scenario.name,
        runs,
        seed,
        target,
        tuple(p.label for p in scenario.periods),
        tuple(counts),
        tuple(t for t in first if t is not None),
    )


# ---------------------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Outcome:
    """One expectation checked: passed or not, with what was observed."""

    scenario: str
    period: str
    expectation: Expectation
    passed: bool
    observed: str

    def line(self) -> str:
        """The PASS/FAIL line of ``kamrules test``."""
        head = f"{self.scenario} period {self.period} {self.expectation.describe()}"
        if self.passed:
            return f"PASS {head}"
        e = self.expectation
        expected = {"action": "present", "no_action": "absent", "fired": "fired"}.get(
            e.kind, e.describe().split(" = ")[-1]
        )
        return f"FAIL {head}: expected {expected}, observed {self.observed} ({e.span})"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        e = self.expectation
        return {
            "scenario": self.scenario,
            "period": self.period,
            "expectation": e.describe(),
            "passed": self.passed,
            "observed": self.observed,
            "file": e.span.file,
            "line": e.span.line,
            "column": e.span.col,
        }


def _observe(e: Expectation, res: PeriodResult | PortfolioPeriodResult) -> tuple[bool, str]:
    if isinstance(res, PortfolioPeriodResult):
        if e.kind == "key_accounts":
            return len(res.key_accounts) == e.value, str(len(res.key_accounts))
        shown = res.structure.structure or "none"
        return res.structure.structure == e.value, f"{shown} (rule {res.structure.structure_rule or 'none'})"
    d = res.decision
    if e.kind == "stage":
        return res.stage == e.value, res.stage
    if e.kind == "move":
        return d.move == e.value, d.move
    if e.kind == "key_account":
        shown = "none" if d.key_account is None else str(d.key_account).lower()
        return d.key_account == e.value, shown
    if e.kind == "structure":
        return d.structure == e.value, d.structure or "none"
    ids = d.fired if e.kind == "fired" else res.action_ids
    listed = ", ".join(ids) or "none"
    if e.kind == "no_action":
        return e.value not in ids, f"present (actions: {listed})" if e.value in ids else "absent"
    word = "fired" if e.kind == "fired" else "present"
    ok = e.value in ids
    return (
        ok,
        word
        if ok
        else f"{'not fired' if e.kind == 'fired' else 'absent'} ({'fired' if e.kind == 'fired' else 'actions'}: {listed})",
    )


def check(timeline: Timeline) -> list[Outcome]:
    """Every expectation of the scenario against its timeline, in file order."""
    out = []
    for period, res in zip(timeline.scenario.periods, timeline.periods):
        for e in period.expect:
            ok, observed = _observe(e, res)
            out.append(Outcome(timeline.scenario.name, period.label, e, ok, observed))
    return out


@dataclass(frozen=True)
class TestReport:
    """The outcomes of every expectation of every scenario run."""

    outcomes: tuple[Outcome, ...] = field(default=())

    @property
    def passed(self) -> int:
        """How many expectations held."""
        return sum(o.passed for o in self.outcomes)

    @property
    def failed(self) -> int:
        """How many expectations did not hold."""
        return len(self.outcomes) - self.passed

    def summary(self) -> str:
        """The last line of ``kamrules test``."""
        return f"{self.passed} passed, {self.failed} failed"


def run_tests(paths: Sequence[str | Path]) -> TestReport:
    """Load every scenario under ``paths``, simulate each, and check its expectations."""
    scenarios = load_scenarios(paths)
    evaluators: dict[int, Evaluator] = {}
    outcomes: list[Outcome] = []
    try:
        for sc in scenarios:
            if sc.is_portfolio:
                outcomes.extend(check(simulate(sc)))
                continue
            ev = evaluators.setdefault(id(sc.ruleset), Evaluator(sc.ruleset))
            outcomes.extend(check(simulate(sc, ev)))
    finally:
        for ev in evaluators.values():
            ev.close()
    return TestReport(tuple(outcomes))


# ---------------------------------------------------------------------------- rendering rows


def timeline_header(scenario: Scenario) -> str:
    """The line printed above a timeline: what is simulated, from where, under which rules."""
    rules = f"rules {scenario.ruleset.directory} version {scenario.ruleset.version[:12]}"
    if scenario.is_portfolio:
        return (
            f"Scenario {scenario.name}: portfolio {scenario.portfolio_file} ({len(scenario.portfolio)} accounts), "
            f"{rules}"
        )
    return f"Scenario {scenario.name}: account {scenario.account.id}, starting in {scenario.account.facts['stage']}, {rules}"


def timeline_rows(timeline: Timeline) -> list[dict]:
    """The timeline as table rows: period, events, stage, move, key account, actions, rules fired.

    For a portfolio: period, events, key accounts, structure, structure rule, and how many accounts got each move.
    """
    if timeline.scenario.is_portfolio:
        return [
            {
                "period": p.label,
                "events": "; ".join(p.events + p.notes),
                "key accounts": len(p.key_accounts),
                "structure": p.structure.structure or "—",
                "structure rule": p.structure.structure_rule or "—",
                "moves": ", ".join(f"{m} {n}" for m, n in p.move_counts().items())
                + (" (refused)" if p.refused and any(m != "hold" for m in p.moves.values()) else ""),
            }
            for p in timeline.periods
        ]
    rows = []
    for p in timeline.periods:
        d = p.decision
        move = d.move + (" (refused)" if p.refused and d.move != "hold" else "")
        events = "; ".join(p.events + p.notes)
        stage = d.stage_current if d.stage_current == p.stage else f"{d.stage_current} → {p.stage}"
        ka = "—" if d.key_account is None else ("yes" if d.key_account else "no")
        rows.append(
            {
                "period": p.label,
                "events": events,
                "stage": stage,
                "move": move,
                "key account": ka,
                "actions": ", ".join(p.action_ids),
                "rules fired": ", ".join(d.fired),
            }
        )
    return rows


def monte_carlo_rows(mc: MonteCarlo) -> list[dict]:
    """Stage probabilities as table rows: period × stage (stages no run ever reached are left out)."""
    used = [s for s in ALL_STAGES if any(row[s] for row in mc.counts)]
    rows = []
    for label, prob in zip(mc.periods, mc.probabilities()):
        rows.append({"period": label, **{s: f"{prob[s]:.1%}" for s in used}})  # text, so tabulate keeps it
    return rows
