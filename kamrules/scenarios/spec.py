"""Scenario files read and checked into a Scenario: name, rules, the account or portfolio, and the steps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kamrules.errors import InvalidInput, Span
from kamrules.inputs.tables import AccountRow, read_account_table
from kamrules.lang import (
    RULE_ID,
    Account,
    Problems,
    RuleSet,
    YNode,
    account_from_node,
    load_account,
    load_ruleset,
    read_yaml,
)
from kamrules.lang.defaults import find_rules
from kamrules.scenarios.model import Scenario
from kamrules.scenarios.steps import read_steps

# The rules folder a scenario (and the command line) uses when none is named.
DEFAULT_RULES = "rules"
SCENARIO_KEYS = {"name", "description", "rules", "account", "account_file", "portfolio", "periods"}
ONE_OF = "a scenario needs exactly one of 'account', 'account_file' and 'portfolio'"


def load_scenario(path: str | Path, rulesets: dict[str, RuleSet] | None = None) -> Scenario:
    """Read and validate one scenario file; every problem is reported with file:line:col."""
    name = str(path)
    root = read_yaml(path)
    probs = Problems()
    if not probs.expect_kind(root, "map", "a scenario file"):
        raise InvalidInput(probs)
    probs.unknown_keys(root, SCENARIO_KEYS, "a scenario file")
    top = Span(name, 1, 1)
    sname = _name(root.get("name"), top, probs)
    desc = _description(root.get("description"), probs)
    ruleset = _ruleset(root, probs, rulesets)
    if ruleset is None:
        raise InvalidInput(probs)
    pn = root.get("portfolio")
    if pn is not None:
        for other in ("account", "account_file"):
            if root.get(other) is not None:
                probs.add(
                    root.key_spans[other],
                    ONE_OF,
                    expected="portfolio: PATH alone",
                    found=f"'portfolio' and '{other}'",
                    code="missing-key",
                )
        rows = _portfolio(pn, probs)
        steps = read_steps(root, top, ruleset, None, probs, rows)
        if probs or rows is None:
            raise InvalidInput(probs)
        return Scenario(sname, desc, name, ruleset, None, tuple(steps), tuple(rows), pn.value, pn.span)
    account = _account(root, top, ruleset, probs)
    steps = read_steps(root, top, ruleset, account, probs)
    if probs:
        raise InvalidInput(probs)
    return Scenario(sname, desc, name, ruleset, account, tuple(steps))


def _name(nn: YNode | None, top: Span, probs: Problems) -> str:
    if nn is None:
        probs.add(top, "missing key 'name'", expected="name: a-kebab-case-name", code="missing-key")
        return ""
    if nn.kind != "scalar" or not isinstance(nn.value, str) or not RULE_ID.fullmatch(nn.value):
        probs.bad(nn, "invalid scenario name", "kebab-case text (a-z, 0-9, '-')", code="bad-name")
        return ""
    return nn.value


def _description(dn: YNode | None, probs: Problems) -> str:
    if dn is None:
        return ""
    if dn.kind != "scalar" or not isinstance(dn.value, str):
        probs.add(dn.span, "description must be text", expected="text", found=dn.describe())
        return ""
    return " ".join(dn.value.split())


_CWD_HELP = (
    "relative paths are resolved against the current directory, else against the folder above the "
    "scenario's folder (where the shipped examples keep theirs)"
)


def _located(value: str, scenario_file: str) -> Path:
    """A relative path from the current directory when it exists there, else from above the scenario's folder."""
    here = Path(value)
    if here.is_absolute() or here.exists() or not scenario_file:
        return here
    return Path(scenario_file).resolve().parent.parent / value


def _path(node: YNode, what: str, kind: str, example: str, expected: str, probs: Problems) -> str | None:
    """The existing file or folder a scenario key names, or None with the problem recorded."""
    if node.kind != "scalar" or not isinstance(node.value, str) or not node.value.strip():
        probs.add(node.span, f"'{what}' must be a {kind} path", expected=example, found=node.describe())
        return None
    found = _located(node.value, node.span.file)
    exists = found.is_dir() if kind == "folder" else found.is_file()
    if not exists:
        label = {"portfolio": "portfolio file", "account_file": "account file", "rules": "rules folder"}[what]
        probs.add(node.span, f"{label} '{node.value}' not found", expected=expected, help=_CWD_HELP)
        return None
    return str(found)


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


def _ruleset(root: YNode, probs: Problems, cache: dict[str, RuleSet] | None) -> RuleSet | None:
    rn = root.get("rules")
    rules_dir: str | None = find_rules(None).path  # ./rules, else $KAMRULES_RULES, else the shipped defaults
    if rn is not None:
        rules_dir = _path(rn, "rules", "folder", "text, e.g. rules", "a folder with facts.yaml and rule files", probs)
    if rules_dir is None:
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
    expected = "account: {account, facts}, account_file: PATH or portfolio: PATH"
    if an is not None and fn is not None:
        probs.add(fn.span, ONE_OF, expected=expected, found="both 'account' and 'account_file'", code="missing-key")
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
    if an is None:
        probs.add(top, ONE_OF, expected=expected, found="none of them", code="missing-key")
        return None
    found = account_from_node(an, str(top.file), ruleset, probs, "'account'")
    facts = an.get("facts")
    return _with_stage(found, facts.span if facts else an.span, probs) if found else None


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
