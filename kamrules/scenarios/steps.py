"""The periods of a scenario file, read and checked into Steps: label, events, refused move, changes, expectations."""

from __future__ import annotations

from kamrules.errors import Span
from kamrules.inputs.tables import NOT_FACTS, AccountRow
from kamrules.lang import ALL_STAGES, STRUCTURES, Account, Problems, RuleSet, YNode, did_you_mean
from kamrules.scenarios.changes import read_account_changes, read_changes, read_table_changes
from kamrules.scenarios.model import MOVES, Expectation, Step

STEP_KEYS = {"period", "events", "set", "add", "multiply", "accounts", "refuse_move", "expect"}
EXPECT_KEYS = {"stage", "move", "key_account", "structure", "actions", "actions_absent", "fired", "key_accounts"}
# A portfolio scenario checks the portfolio review, not one account's decision.
PORTFOLIO_EXPECT_KEYS = {"structure", "key_accounts"}
PORTFOLIO_ONLY_EXPECT_KEYS = {"key_accounts"}
CHOICES = {"stage": ALL_STAGES, "move": MOVES, "structure": STRUCTURES}  # expectations naming one of a set


def read_steps(
    root: YNode,
    top: Span,
    ruleset: RuleSet,
    account: Account | None,
    probs: Problems,
    rows: list[AccountRow] | None = None,
) -> list[Step]:
    """The ``periods:`` list of a scenario file as Steps; problems are recorded, bad periods left out."""
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
        step = _step(node, i, ruleset, present, labels, probs, portfolio, table)
        if step:
            out.append(step)
    return out


def _step(
    node: YNode,
    i: int,
    ruleset: RuleSet,
    present: set[str] | None,
    labels: dict[str, Span],
    probs: Problems,
    portfolio: bool,
    table: dict[str, set[str]] | None,
) -> Step | None:
    if not probs.expect_kind(node, "map", "a period"):
        return None
    probs.unknown_keys(node, STEP_KEYS, "a period")
    label = _label(node, i, labels, probs)
    what = f"period '{label}'"
    events = _events(node.get("events"), what, probs)
    refuse = _refuse_move(node.get("refuse_move"), what, probs)
    if portfolio:
        changes = read_table_changes(node, ruleset, table, None, what, probs)
        account_changes = read_account_changes(node.get("accounts"), ruleset, table, what, probs)
    else:
        changes = read_changes(node, ruleset, present, what, probs)
        account_changes = []
        if node.get("accounts") is not None:
            probs.add(
                node.key_spans["accounts"],
                f"'accounts' of {what} applies to portfolio scenarios only",
                expected="set/add/multiply for the scenario's one account",
                found="'accounts'",
                help="a scenario with 'portfolio: TABLE' changes named accounts under 'accounts:'",
                code="unknown-key",
            )
    expect = _expectations(node.get("expect"), ruleset, what, probs, portfolio)
    return Step(label, tuple(changes), tuple(events), refuse, tuple(expect), node.span, tuple(account_changes))


def _label(node: YNode, i: int, labels: dict[str, Span], probs: Problems) -> str:
    """The period's label (P1, P2, ... when not given); a label used twice is recorded."""
    label = f"P{i + 1}"
    ln = node.get("period")
    if ln is not None:
        if ln.kind != "scalar" or ln.value is None or isinstance(ln.value, (bool, float)) or not str(ln.raw).strip():
            probs.add(ln.span, "invalid period label", expected="text, e.g. 2027Q1", found=ln.describe())
        else:
            label = str(ln.raw)
    span = ln.span if ln else node.span
    if label in labels:
        probs.add(
            span,
            f"duplicate period label '{label}'",
            expected="each label once",
            found=f"'{label}' again (first at line {labels[label].line})",
            code="duplicate-id",
        )
    labels[label] = span
    return label


def _events(en: YNode | None, what: str, probs: Problems) -> list[str]:
    if en is None:
        return []
    events = []
    for e in en.value if en.kind == "seq" else [en]:
        if e.kind != "scalar" or not isinstance(e.value, str) or not e.value.strip():
            probs.add(e.span, f"an event of {what} must be text", expected="a short label", found=e.describe())
        else:
            events.append(e.value.strip())
    return events


def _refuse_move(rn: YNode | None, what: str, probs: Problems) -> bool:
    if rn is None:
        return False
    if rn.kind != "scalar" or not isinstance(rn.value, bool):
        probs.add(
            rn.span, f"'refuse_move' of {what} must be true or false", expected="true or false", found=rn.describe()
        )
        return False
    return rn.value


def _expectations(
    node: YNode | None, ruleset: RuleSet, what: str, probs: Problems, portfolio: bool
) -> list[Expectation]:
    if node is None or not probs.expect_kind(node, "map", f"'expect' of {what}"):
        return []
    allowed = PORTFOLIO_EXPECT_KEYS if portfolio else EXPECT_KEYS - PORTFOLIO_ONLY_EXPECT_KEYS
    probs.unknown_keys(node, allowed, f"'expect' of {what}")
    out: list[Expectation] = []
    for key, vnode in node.items():
        if key not in allowed:
            continue
        if key in ("actions", "actions_absent", "fired"):
            out.extend(_id_expectations(key, vnode, ruleset, what, probs))
            continue
        e = _value_expectation(key, vnode, what, probs)
        if e:
            out.append(e)
    return out


def _value_expectation(key: str, vnode: YNode, what: str, probs: Problems) -> Expectation | None:
    """An expected stage, move, structure, key-account designation or count of key accounts."""
    v = vnode.value
    if key in CHOICES:
        ok = v in CHOICES[key]
        message, expected = f"unknown {key} expected in {what}", "one of " + ", ".join(CHOICES[key])
    elif key == "key_accounts":
        ok = isinstance(v, int) and not isinstance(v, bool) and v >= 0
        message, expected = f"'{key}' expected in {what} must be a count", "an integer >= 0"
    else:  # key_account
        ok = isinstance(v, bool)
        message, expected = f"'{key}' expected in {what} must be true or false", "true or false"
    if vnode.kind == "scalar" and ok:
        return Expectation(key, v, vnode.span)
    hint = did_you_mean(str(v), CHOICES[key]) if key in CHOICES else None
    probs.add(vnode.span, message, expected=expected, found=vnode.describe(), help=hint, code="bad-value")
    return None


def _id_expectations(key: str, vnode: YNode, ruleset: RuleSet, what: str, probs: Problems) -> list[Expectation]:
    """Actions expected present or absent, or rules expected to fire: one Expectation per known id."""
    if key == "fired":
        known, noun, article = {r.id for r in ruleset.rules}, "rule", "a"
    else:
        known, noun, article = {a.id for r in ruleset.rules for a in r.actions}, "action", "an"
    kind = {"actions": "action", "actions_absent": "no_action", "fired": "fired"}[key]
    out = []
    for item in vnode.value if vnode.kind == "seq" else [vnode]:
        if item.kind == "scalar" and item.value in known:
            out.append(Expectation(kind, item.value, item.span))
            continue
        probs.bad(
            item,
            f"unknown {noun} id in '{key}' of {what}",
            f"{article} {noun} id from {ruleset.directory}",
            help=did_you_mean(str(item.value), known),
            code=f"unknown-{noun}",
        )
    return out
