"""YAML files → model: the facts schema, rule files and account files, validated with positions."""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.lang.model import (
    ALL_STAGES,
    FACT_TYPES,
    STRUCTURES,
    Account,
    Action,
    AllOf,
    AnyOf,
    Condition,
    Fact,
    Leaf,
    Not,
    Rule,
    RuleSet,
    is_date,
)
from kamrules.lang.ops import OPERATORS, OPS, applies_to, operators_for
from kamrules.lang.source import YNode, describe_value, read_text, read_yaml

FACTS_FILE = "facts.yaml"
SETTINGS_FILE = "settings.yaml"
NOT_RULE_FILES = {FACTS_FILE, SETTINGS_FILE}
FACT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RULE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Keys the engine module puts in every fact it asserts; a fact may not shadow them.
RESERVED_NAMES = {"id", "sid"}
# durable_rules stores at most 255 properties per fact; leave room for the engine's own keys.
MAX_FACTS = 240

FACT_KEYS = {"type", "values", "unit", "range", "description", "source", "default"}
RULE_KEYS = {"id", "description", "priority", "when", "then", "tags"}
THEN_KEYS = {"derive", "recommend"}
RECOMMEND_KEYS = {"stage", "structure", "actions"}
LEAF_KEYS = {"fact", "op", "value", "value_of"}
ACCOUNT_KEYS = {"account", "name", "facts"}


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint for a misspelt name, if a close one exists."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class Problems(list):
    """Gathers problems so that one run reports all of them."""

    # Facts declared in facts.yaml but rejected there: rules using them get no second error.
    rejected_facts: frozenset[str] = frozenset()

    def unknown_fact(self, span: Span, name: str, what: str, facts: dict[str, Fact]) -> None:
        """Record an unknown fact with a did-you-mean, unless its declaration was already reported."""
        if name not in self.rejected_facts:
            self.add(span, f"unknown fact '{name}' in {what}", code="unknown-fact", help=_fact_hint(name, facts))

    def add(self, span: Span, message: str, **kw: Any) -> None:
        """Record one problem."""
        self.append(Problem(span, message, **kw))

    def unknown_keys(self, node: YNode, allowed: set[str], what: str) -> None:
        """Record every key of a mapping that is not allowed, with a did-you-mean."""
        for key, kspan in node.key_spans.items():
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                self.add(
                    kspan,
                    f"unknown key '{key}' in {what}",
                    expected="one of " + ", ".join(sorted(allowed)),
                    found=f"'{key}'",
                    help=hint,
                    code="unknown-key",
                )

    def expect_kind(self, node: YNode, kind: str, what: str) -> bool:
        """True when the node is a mapping / list / scalar as required; records a problem otherwise."""
        if node.kind == kind:
            return True
        wanted = {"map": "a mapping", "seq": "a list", "scalar": "a single value"}[kind]
        self.add(node.span, f"{what} must be {wanted}", expected=wanted, found=node.describe(), code="wrong-type")
        return False


# ---------------------------------------------------------------------------- values


def type_label(fact: Fact) -> str:
    """The expected type of a fact's value, in words."""
    if fact.type == "enum":
        return "one of " + ", ".join(fact.values or ())
    if fact.type in ("number", "integer") and fact.range:
        lo, hi = fact.range
        return f"{'an integer' if fact.type == 'integer' else 'a number'} from {_num(lo)} to {_num(hi)}"
    return {
        "number": "a number",
        "integer": "an integer",
        "boolean": "true or false",
        "string": "text",
        "date": "a date (YYYY-MM-DD)",
    }[fact.type]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def check_value(fact: Fact, value: Any) -> str | None:
    """Why ``value`` is not a valid value of ``fact``, or None when it is."""
    t = fact.type
    if value is None:
        return "no value"
    if t in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "wrong type"
        if isinstance(value, float) and not math.isfinite(value):
            return "not a finite number"
        if t == "integer" and not isinstance(value, int):
            return "wrong type"
        if fact.range and not (fact.range[0] <= value <= fact.range[1]):
            return "out of range"
        return None
    if t == "boolean":
        return None if isinstance(value, bool) else "wrong type"
    if t == "string":
        return None if isinstance(value, str) else "wrong type"
    if t == "enum":
        if not isinstance(value, str):
            return "wrong type"
        return None if value in (fact.values or ()) else "not an allowed value"
    if t == "date":
        return None if is_date(value) else "wrong type"
    return "unknown type"


def value_problem(fact: Fact, value: Any, span: Span, context: str) -> Problem | None:
    """A Problem for an invalid value of a fact, naming what was expected and found."""
    why = check_value(fact, value)
    if why is None:
        return None
    hint = None
    if fact.type == "enum" and isinstance(value, str):
        hint = did_you_mean(value, fact.values or ())
    if fact.type == "number" and isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value):
        hint = "YAML reads 1e6 as text; write 1.0e6 or 1000000"
    if fact.type == "boolean" and isinstance(value, str) and value.lower() in ("yes", "no", "on", "off", "y", "n"):
        hint = "write true or false"
    if fact.type in ("number", "integer") and isinstance(value, str) and "," in value:
        hint = "write numbers with a '.' decimal point and no thousands separator"
    return Problem(
        span,
        f"{context}: invalid value for fact '{fact.name}' ({why})",
        expected=type_label(fact),
        found=describe_value(value),
        help=hint,
        code="bad-value",
    )


# ---------------------------------------------------------------------------- facts schema


def load_facts(path: Path, col: Problems) -> tuple[dict[str, Fact], str]:
    """Read ``facts.yaml``; returns the facts and the file's text."""
    name = str(path)
    text = read_text(path)
    root = read_yaml(path, text)
    facts: dict[str, Fact] = {}
    if not col.expect_kind(root, "map", "facts.yaml"):
        return facts, text
    col.unknown_keys(root, {"facts"}, "facts.yaml")
    body = root.get("facts")
    if body is None:
        col.add(Span(name, 1, 1), "missing key 'facts'", expected="a 'facts:' mapping", code="missing-key")
        return facts, text
    if not col.expect_kind(body, "map", "'facts'"):
        return facts, text
    if len(body.value) > MAX_FACTS:
        col.add(body.span, "too many facts", expected=f"at most {MAX_FACTS}", found=str(len(body.value)))
    for fname, node in body.items():
        kspan = body.key_spans[fname]
        if not FACT_NAME.match(fname) or fname in RESERVED_NAMES:
            col.add(
                kspan,
                f"invalid fact name '{fname}'",
                expected="lower-case letters, digits and '_', starting with a letter, not 'id' or 'sid'",
                found=f"'{fname}'",
                code="bad-name",
            )
            continue
        fact = _parse_fact(fname, node, kspan, col)
        if fact:
            facts[fname] = fact
    col.rejected_facts = frozenset(body.value) - set(facts)
    return facts, text


def _parse_fact(fname: str, node: YNode, kspan: Span, col: Problems) -> Fact | None:
    if not col.expect_kind(node, "map", f"fact '{fname}'"):
        return None
    col.unknown_keys(node, FACT_KEYS, f"fact '{fname}'")
    ok = True

    def scalar(key: str, required: bool = False) -> Any:
        nonlocal ok
        n = node.get(key)
        if n is None:
            if required:
                col.add(kspan, f"fact '{fname}' has no '{key}'", expected=f"a '{key}:' key", code="missing-key")
                ok = False
            return None
        if not col.expect_kind(n, "scalar", f"'{key}' of fact '{fname}'"):
            ok = False
            return None
        return n.value

    ftype = scalar("type", True)
    if ftype is not None and ftype not in FACT_TYPES:
        col.add(
            node.get("type").span,
            f"unknown type '{ftype}' for fact '{fname}'",
            expected="one of " + ", ".join(FACT_TYPES),
            found=f"'{ftype}'",
            help=did_you_mean(str(ftype), FACT_TYPES),
        )
        ok = False
    description = scalar("description", True)
    source = scalar("source", True)
    if source is not None and source not in ("given", "derived"):
        col.add(
            node.get("source").span,
            f"invalid source for fact '{fname}'",
            expected="given or derived",
            found=describe_value(source),
        )
        ok = False
    unit = scalar("unit")
    values = None
    vnode = node.get("values")
    if ftype == "enum":
        if vnode is None:
            col.add(
                kspan, f"enum fact '{fname}' has no 'values'", expected="a list of allowed values", code="missing-key"
            )
            ok = False
        elif col.expect_kind(vnode, "seq", f"'values' of fact '{fname}'"):
            values = []
            for v in vnode.value:
                if v.kind != "scalar" or not isinstance(v.value, str) or not v.value:
                    col.add(v.span, f"enum value of fact '{fname}' must be text", expected="text", found=v.describe())
                    ok = False
                elif v.value in values:
                    col.add(
                        v.span,
                        f"duplicate enum value '{v.value}'",
                        expected="each value once",
                        found=f"'{v.value}' again",
                    )
                    ok = False
                else:
                    values.append(v.value)
            if not values:
                ok = False
    elif vnode is not None:
        col.add(vnode.span, f"'values' is only for enum facts ('{fname}' is {ftype})", code="unknown-key")
        ok = False
    rng = None
    rnode = node.get("range")
    if ftype in ("number", "integer"):
        if rnode is None:
            col.add(kspan, f"{ftype} fact '{fname}' has no 'range'", expected="range: [min, max]", code="missing-key")
            ok = False
        elif col.expect_kind(rnode, "seq", f"'range' of fact '{fname}'"):
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
                ok = False
            elif max(abs(ends[0]), abs(ends[1])) > 9.0e15:
                # beyond 2**53 floats lose integers and the engine's 64-bit integers overflow
                col.add(
                    rnode.span,
                    f"range of fact '{fname}' is too wide",
                    expected="bounds within ±9.0e15",
                    found=str(ends),
                )
                ok = False
            else:
                rng = (ends[0], ends[1])
    elif rnode is not None:
        col.add(rnode.span, f"'range' is only for number and integer facts ('{fname}' is {ftype})", code="unknown-key")
        ok = False
    default = None
    dnode = node.get("default")
    if dnode is not None:
        if source != "derived":
            col.add(dnode.span, f"'default' is only for derived facts ('{fname}' is {source})", code="unknown-key")
            ok = False
        else:
            default = dnode.value
    if not ok:
        return None
    fact = Fact(
        fname, ftype, str(description), source, tuple(values) if values else None, unit, rng, default, kspan.line
    )
    if dnode is not None:
        p = value_problem(fact, default, dnode.span, f"default of fact '{fname}'")
        if p:
            col.append(p)
            return None
    return fact


# ---------------------------------------------------------------------------- rules


def load_ruleset(directory: str | Path) -> RuleSet:
    """Load and validate a rule folder; every problem in every file is reported in one InvalidInput."""
    d = Path(directory)
    col = Problems()
    if d.is_file():
        raise InvalidInput(
            [
                Problem(
                    Span(str(d)),
                    "is a file, not a rules folder",
                    expected="a folder with facts.yaml and rule files",
                    help=f"try {d.parent or '.'}",
                )
            ]
        )
    if not d.is_dir():
        raise InvalidInput(
            [Problem(Span(str(d)), "rules folder not found", expected="a folder with facts.yaml and rule files")]
        )
    facts_path = d / FACTS_FILE
    if not facts_path.exists():
        raise InvalidInput(
            [
                Problem(
                    Span(str(facts_path)),
                    "facts schema not found",
                    expected=f"{FACTS_FILE} in {d}",
                    help="every rules folder declares its facts in facts.yaml",
                )
            ]
        )
    files: list[tuple[str, str]] = []
    facts: dict[str, Fact] = {}
    try:
        facts, text = load_facts(facts_path, col)
        files.append((FACTS_FILE, text))
    except InvalidInput as e:
        col.extend(e.problems)
    rule_paths = sorted(p for p in [*d.glob("*.yaml"), *d.glob("*.yml")] if p.name not in NOT_RULE_FILES)
    rules: list[Rule] = []
    id_spans: list[tuple[str, Span]] = []
    for p in rule_paths:
        try:
            text = read_text(p)
            root = read_yaml(p, text)
        except InvalidInput as e:
            col.extend(e.problems)
            continue
        files.append((p.name, text))
        rules.extend(_parse_rule_file(root, str(p), facts, col))
        id_spans.extend(_rule_ids(root))
    if not rule_paths:
        col.add(Span(str(d)), "no rule files", expected="at least one *.yaml rule file beside facts.yaml")
    settings = d / SETTINGS_FILE
    if settings.exists():
        # The portfolio review's settings change decisions too, so they are part of the version
        # and are recorded with every decision; they are validated where they are read.
        files.append((SETTINGS_FILE, read_text(settings)))
    _check_ids(id_spans, col)
    rules = _stratify(rules, facts, col)
    if col:
        raise InvalidInput(list(col))
    return RuleSet(str(d), facts, tuple(rules), ruleset_version(files), tuple(files))


def ruleset_version(files: Sequence[tuple[str, str]]) -> str:
    """The version of a rule set: SHA-256 over its files' names and texts, in load order."""
    h = hashlib.sha256()
    for fname, text in files:
        h.update(fname.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


def _parse_rule_file(root: YNode, name: str, facts: dict[str, Fact], col: Problems) -> list[Rule]:
    if not col.expect_kind(root, "map", "a rule file"):
        return []
    col.unknown_keys(root, {"rules"}, "a rule file")
    body = root.get("rules")
    if body is None:
        col.add(Span(name, 1, 1), "missing key 'rules'", expected="a 'rules:' list", code="missing-key")
        return []
    if not col.expect_kind(body, "seq", "'rules'"):
        return []
    out = []
    for node in body.value:
        rule = _parse_rule(node, name, facts, col)
        if rule:
            out.append(rule)
    return out


def _parse_rule(node: YNode, file: str, facts: dict[str, Fact], col: Problems) -> Rule | None:
    if not col.expect_kind(node, "map", "a rule"):
        return None
    n_before = len(col)
    col.unknown_keys(node, RULE_KEYS, "a rule")
    idn = node.get("id")
    rid = None
    if idn is None:
        col.add(node.span, "rule has no 'id'", expected="id: some-kebab-case-name", code="missing-key")
    elif idn.kind != "scalar" or not isinstance(idn.value, str) or not RULE_ID.match(idn.value):
        col.add(
            idn.span,
            "invalid rule id",
            expected="kebab-case text (a-z, 0-9, '-')",
            found=idn.describe(),
            code="bad-name",
        )
    else:
        rid = idn.value
    what = f"rule '{rid}'" if rid else "rule"
    desc = node.get("description")
    if desc is None:
        col.add(node.span, f"{what} has no 'description'", expected="a plain-language description", code="missing-key")
    elif desc.kind != "scalar" or not isinstance(desc.value, str) or not desc.value.strip():
        col.add(desc.span, f"description of {what} must be text", expected="text", found=desc.describe())
    prio = 0
    pn = node.get("priority")
    if pn is not None:
        if (
            pn.kind != "scalar"
            or isinstance(pn.value, bool)
            or not isinstance(pn.value, int)
            or abs(pn.value) > 1_000_000
        ):
            col.add(
                pn.span,
                f"priority of {what} must be an integer",
                expected="an integer from -1000000 to 1000000",
                found=pn.describe(),
            )
        else:
            prio = pn.value
    tags: tuple[str, ...] = ()
    tn = node.get("tags")
    if tn is not None and col.expect_kind(tn, "seq", f"'tags' of {what}"):
        tags = tuple(str(t.value) for t in tn.value if t.kind == "scalar")
    when = None
    wn = node.get("when")
    if wn is None:
        col.add(
            node.span,
            f"{what} has no 'when'",
            expected="a condition (all / any / not / a comparison)",
            code="missing-key",
        )
    else:
        when = _parse_condition(wn, facts, col, what)
    then = node.get("then")
    derive: list[tuple[str, Any]] = []
    stage = structure = None
    actions: list[Action] = []
    if then is None:
        col.add(node.span, f"{what} has no 'then'", expected="'then:' with derive and/or recommend", code="missing-key")
    elif col.expect_kind(then, "map", f"'then' of {what}"):
        col.unknown_keys(then, THEN_KEYS, f"'then' of {what}")
        if not then.value:
            col.add(then.span, f"'then' of {what} is empty", expected="derive and/or recommend")
        dn = then.get("derive")
        if dn is not None and col.expect_kind(dn, "map", f"'derive' of {what}"):
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
                    p = value_problem(fact, vnode.value if vnode.kind == "scalar" else vnode.plain(), vnode.span, what)
                    if p:
                        col.append(p)
                    else:
                        derive.append((fname, vnode.value))
        rn = then.get("recommend")
        if rn is not None and col.expect_kind(rn, "map", f"'recommend' of {what}"):
            col.unknown_keys(rn, RECOMMEND_KEYS, f"'recommend' of {what}")
            sn = rn.get("stage")
            if sn is not None:
                if sn.kind != "scalar" or sn.value not in ALL_STAGES:
                    col.add(
                        sn.span,
                        f"unknown stage in {what}",
                        expected="one of " + ", ".join(ALL_STAGES),
                        found=sn.describe(),
                        help=did_you_mean(str(sn.value), ALL_STAGES),
                    )
                else:
                    stage = sn.value
            stn = rn.get("structure")
            if stn is not None:
                if stn.kind != "scalar" or stn.value not in STRUCTURES:
                    col.add(stn.span, f"unknown structure in {what}", expected="base or advanced", found=stn.describe())
                else:
                    structure = stn.value
            an = rn.get("actions")
            if an is not None and col.expect_kind(an, "seq", f"'actions' of {what}"):
                for a in an.value:
                    act = _parse_action(a, what, col)
                    if act:
                        actions.append(act)
    if len(col) > n_before or rid is None or when is None:
        return None
    return Rule(
        rid,
        " ".join(str(desc.value).split()),
        prio,
        when,
        file,
        node.span.line,
        tuple(derive),
        stage,
        structure,
        tuple(actions),
        tags,
    )


def _parse_action(node: YNode, what: str, col: Problems) -> Action | None:
    if not col.expect_kind(node, "map", f"an action of {what}"):
        return None
    col.unknown_keys(node, {"id", "text"}, f"an action of {what}")
    i, t = node.get("id"), node.get("text")
    if i is None or t is None:
        col.add(
            node.span,
            f"an action of {what} needs 'id' and 'text'",
            expected="{id: kebab-case, text: a sentence}",
            code="missing-key",
        )
        return None
    if i.kind != "scalar" or not isinstance(i.value, str) or not RULE_ID.match(i.value):
        col.add(i.span, "invalid action id", expected="kebab-case text", found=i.describe(), code="bad-name")
        return None
    if t.kind != "scalar" or not isinstance(t.value, str) or not t.value.strip():
        col.add(t.span, "action text must be text", expected="a sentence", found=t.describe())
        return None
    return Action(i.value, " ".join(t.value.split()))


def _fact_hint(name: str, facts: dict[str, Fact]) -> str:
    hint = did_you_mean(name, facts)
    return f"{hint} (facts are declared in facts.yaml)" if hint else "declare it in facts.yaml first"


def _parse_condition(node: YNode, facts: dict[str, Fact], col: Problems, what: str) -> Condition | None:
    if node.kind != "map":
        col.add(
            node.span,
            f"condition in {what} must be a mapping",
            expected="all / any / not / {fact, op, value}",
            found=node.describe(),
            code="bad-condition",
        )
        return None
    keys = set(node.value)
    groups = keys & {"all", "any", "not"}
    if groups:
        if len(keys) != 1:
            col.add(
                node.span,
                f"a condition in {what} mixes {', '.join(sorted(keys))}",
                expected="exactly one of all / any / not, or a comparison",
                found=", ".join(sorted(keys)),
                code="bad-condition",
            )
            return None
        key = groups.pop()
        child = node.value[key]
        if key == "not":
            inner = _parse_condition(child, facts, col, what)
            return Not(inner) if inner else None
        if child.kind != "seq" or not child.value:
            col.add(
                child.span,
                f"'{key}' in {what} needs a non-empty list of conditions",
                expected="a list",
                found=child.describe(),
                code="bad-condition",
            )
            return None
        kids = [_parse_condition(c, facts, col, what) for c in child.value]
        if any(k is None for k in kids):
            return None
        return (AllOf if key == "all" else AnyOf)(tuple(kids))
    return _parse_leaf(node, facts, col, what)


def _parse_leaf(node: YNode, facts: dict[str, Fact], col: Problems, what: str) -> Leaf | None:
    n0 = len(col)
    for key, kspan in node.key_spans.items():
        if key not in LEAF_KEYS:
            col.add(
                kspan,
                f"unknown key '{key}' in a condition of {what}",
                expected="all, any, not, or fact / op / value / value_of",
                found=f"'{key}'",
                help=did_you_mean(key, LEAF_KEYS | {"all", "any", "not"}),
                code="unknown-key",
            )
    fn, on = node.get("fact"), node.get("op")
    if fn is None or on is None:
        col.add(
            node.span,
            f"a comparison in {what} needs 'fact' and 'op'",
            expected="{fact: NAME, op: OP, value: V}",
            found="keys " + ", ".join(sorted(node.value)) if node.value else "an empty mapping",
            code="bad-condition",
        )
        return None
    fact = facts.get(fn.value) if fn.kind == "scalar" and isinstance(fn.value, str) else None
    if fact is None:
        col.unknown_fact(fn.span, str(fn.raw or fn.value), what, facts)
    op = on.value if on.kind == "scalar" else None
    if op not in OPERATORS:
        col.add(
            on.span,
            f"unknown operator in {what}",
            expected="one of " + ", ".join(OPERATORS),
            found=on.describe(),
            help=did_you_mean(str(op), OPERATORS),
            code="unknown-op",
        )
        op = None
    vn, von = node.get("value"), node.get("value_of")
    if fact is None or op is None:
        return None
    span = Span(fn.span.file, node.span.line, node.span.col)
    operator = OPS[op]
    if not operator.takes_value:
        for extra in (vn, von):
            if extra is not None:
                col.add(extra.span, f"'{op}' takes no value in {what}", found=extra.describe(), code="bad-condition")
        return None if len(col) > n0 else Leaf(fact.name, op, line=span.line, col=span.col)
    if not applies_to(operator, fact.type):
        col.add(
            on.span,
            f"operator '{op}' does not apply to {fact.type} fact '{fact.name}' in {what}",
            expected=" or ".join(", ".join(operators_for(fact.type)).rsplit(", ", 1)),
            found=f"'{op}'",
            code="bad-operator",
        )
        return None
    if (vn is None) == (von is None):
        col.add(
            node.span,
            f"a comparison in {what} needs exactly one of 'value' and 'value_of'",
            expected="value: CONSTANT or value_of: OTHER_FACT",
            found="both" if vn is not None else "neither",
            code="bad-condition",
        )
        return None
    if von is not None:
        if not operator.takes_fact:
            col.add(
                von.span,
                f"'{op}' compares with constants, not with another fact",
                expected="value: [...]",
                code="bad-condition",
            )
            return None
        other = facts.get(von.value) if von.kind == "scalar" and isinstance(von.value, str) else None
        if other is None:
            col.unknown_fact(von.span, str(von.raw or von.value), what, facts)
            return None
        compatible = other.type == fact.type or {other.type, fact.type} <= {"number", "integer"}
        if not compatible or (fact.type == "enum" and other.values != fact.values):
            col.add(
                von.span,
                f"cannot compare {fact.type} fact '{fact.name}' with {other.type} fact '{other.name}'",
                expected=f"a fact of type {fact.type}",
                found=f"'{other.name}' of type {other.type}",
                code="bad-type",
            )
            return None
        return Leaf(fact.name, op, value_of=other.name, line=span.line, col=span.col)
    # constant operand
    if operator.operand in ("list", "range"):
        if vn.kind != "seq" or not vn.value:
            col.add(
                vn.span,
                f"'{op}' needs a list in {what}",
                expected="a list of values" if operator.operand == "list" else "[low, high]",
                found=vn.describe(),
                code="bad-value",
            )
            return None
        items = vn.value
        if operator.operand == "range" and len(items) != 2:
            col.add(
                vn.span,
                f"'{op}' needs two values in {what}",
                expected="[low, high]",
                found=f"{len(items)} values",
                code="bad-value",
            )
            return None
        values = []
        for item in items:
            p = value_problem(fact, item.value if item.kind == "scalar" else item.plain(), item.span, what)
            if p:
                col.append(p)
            else:
                values.append(item.value)
        if len(col) > n0:
            return None
        if operator.operand == "range" and values[0] > values[1]:
            col.add(
                vn.span,
                f"'{op}' bounds are reversed in {what}",
                expected="[low, high] with low <= high",
                found=str(values),
                code="bad-value",
            )
            return None
        return Leaf(fact.name, op, value=tuple(values), line=span.line, col=span.col)
    p = value_problem(fact, vn.value if vn.kind == "scalar" else vn.plain(), vn.span, what)
    if p:
        col.append(p)
        return None
    return None if len(col) > n0 else Leaf(fact.name, op, value=vn.value, line=span.line, col=span.col)


def _rule_ids(root: YNode) -> list[tuple[str, Span]]:
    body = root.get("rules")
    if body is None or body.kind != "seq":
        return []
    out = []
    for node in body.value:
        idn = node.get("id")
        if idn is not None and idn.kind == "scalar" and isinstance(idn.value, str):
            out.append((idn.value, idn.span))
    return out


def _check_ids(id_spans: list[tuple[str, Span]], col: Problems) -> None:
    seen: dict[str, Span] = {}
    for rid, span in id_spans:
        if rid in seen:
            first = seen[rid]
            col.add(
                span,
                f"duplicate rule id '{rid}'",
                expected="each id once across the rules folder",
                found=f"'{rid}' again (first at {first.file}:{first.line})",
                code="duplicate-id",
            )
        else:
            seen[rid] = span


def _stratify(rules: list[Rule], facts: dict[str, Fact], col: Problems) -> list[Rule]:
    """Give each rule its evaluation layer; a cycle among derived facts is an error."""
    derivers: dict[str, list[Rule]] = {}
    for r in rules:
        for fname, _ in r.derive:
            derivers.setdefault(fname, []).append(r)
    fact_layer: dict[str, int] = {}
    visiting: list[str] = []
    reported: set[frozenset] = set()

    def layer_of_fact(fname: str) -> int:
        if fname in fact_layer:
            return fact_layer[fname]
        if fname in visiting:
            cycle = visiting[visiting.index(fname) :] + [fname]
            key = frozenset(cycle)
            if key not in reported:
                reported.add(key)
                r = derivers[fname][0]
                col.add(
                    Span(r.file, r.line, 3),
                    "cycle among derived facts: " + " → ".join(cycle),
                    expected="derived facts that do not depend on themselves",
                    found=f"rule '{r.id}' derives '{fname}' from facts that depend on it",
                    code="cycle",
                )
            return 0
        visiting.append(fname)
        layer = max((layer_of_rule(r) for r in derivers.get(fname, [])), default=-1)
        visiting.pop()
        fact_layer[fname] = layer
        return layer

    def layer_of_rule(r: Rule) -> int:
        reads = [f for f in r.reads() if f in facts and facts[f].derived]
        return 1 + max((layer_of_fact(f) for f in reads), default=-1)

    out = []
    for r in rules:
        out.append(Rule(**{**r.__dict__, "stratum": layer_of_rule(r)}))
    return out


# ---------------------------------------------------------------------------- accounts


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
    col.unknown_keys(root, ACCOUNT_KEYS, what)
    top = Span(root.span.file, root.span.line, root.span.col)
    an = root.get("account")
    acc_id = None
    if an is None:
        col.add(top, "missing key 'account'", expected="account: THE-ACCOUNT-ID", code="missing-key")
    elif an.kind != "scalar" or an.value is None or isinstance(an.value, bool) or str(an.value).strip() == "":
        col.add(an.span, "invalid account id", expected="text or a number", found=an.describe())
    else:
        acc_id = str(an.raw if isinstance(an.value, (int, float)) else an.value)
    nn = root.get("name")
    acc_name = None
    if nn is not None:
        if nn.kind != "scalar" or not isinstance(nn.value, str):
            col.add(nn.span, "account name must be text", expected="text", found=nn.describe())
        else:
            acc_name = nn.value
    fn = root.get("facts")
    facts: dict[str, Any] = {}
    if fn is None:
        col.add(top, "missing key 'facts'", expected="a 'facts:' mapping of given facts", code="missing-key")
    elif col.expect_kind(fn, "map", "'facts'"):
        for fname, vnode in fn.items():
            value = vnode.value if vnode.kind == "scalar" else vnode.plain()
            problem = fact_value_problem(ruleset, fname, value, fn.key_spans[fname], vnode.span, "account")
            if problem:
                col.append(problem)
            else:
                facts[fname] = value
    if len(col) > n0 or acc_id is None:
        return None
    return Account(acc_id, facts, acc_name, origin)


def fact_value_problem(
    ruleset: RuleSet, fname: str, value: Any, key_span: Span, value_span: Span, context: str
) -> Problem | None:
    """Why a given fact from an account (file or table) is not acceptable, or None."""
    fact = ruleset.facts.get(fname)
    if fact is not None and not fact.derived and check_value(fact, value) is None:
        return None  # the common case, first: a portfolio review checks millions of values
    if fact is None:
        return Problem(
            key_span, f"unknown fact '{fname}' in {context}", code="unknown-fact", help=_fact_hint(fname, ruleset.facts)
        )
    if fact.derived:
        return Problem(
            key_span,
            f"fact '{fname}' is derived by the rules and cannot be given",
            expected="a given fact",
            found=f"'{fname}' (source: derived)",
            code="derived-given",
        )
    return value_problem(fact, value, value_span, context)
