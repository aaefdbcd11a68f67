"""The shape of every YAML input, declared once: which keys a mapping allows and requires, and their kinds.

The loaders check shape with `check_keys` and meaning in code; `json_schema` exports the same tables
as JSON Schema for editors and for the test that the shipped files conform. Scenario and settings
files can declare their own `Spec` and use the same two functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kamrules.errors import Span
from kamrules.lang.model import ALL_STAGES, FACT_TYPES, STRUCTURES
from kamrules.lang.ops import OPERATORS
from kamrules.lang.problems import Problems
from kamrules.lang.source import YNode

Kind = Literal["map", "seq", "scalar", "any"]

FACT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RULE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
GROUPS = ("all", "any", "not")
"""The keys of a condition that combine other conditions."""

_SCALAR: dict[str, Any] = {"not": {"type": ["object", "array"]}}  # YAML dates are neither text nor numbers


@dataclass(frozen=True)
class Key:
    """One key of a mapping: its kind, whether it is required, and what its value holds."""

    kind: Kind = "any"
    required: bool = False
    missing: str | None = None  # the message when a required key is absent ({what}, {key}); None: the caller's
    expected: str | None = None  # what that message says was expected
    json: Mapping[str, Any] | None = None  # the value's JSON Schema, when more precise than its kind
    spec: Spec | None = None  # a mapping of these keys
    items: Spec | None = None  # a list of mappings of these keys
    each: Spec | None = None  # a mapping from free names to mappings of these keys
    condition: bool = False  # a condition tree


@dataclass(frozen=True)
class Spec:
    """The keys a mapping may have, and how an unknown key is reported."""

    title: str
    keys: Mapping[str, Key] = field(default_factory=dict)
    unknown: str = "unknown key '{key}' in {what}"
    allowed: str | None = None  # the 'expected' of an unknown key; default: one of the keys
    suggest: tuple[str, ...] = ()  # further names a did-you-mean may offer
    names: str | None = None  # the pattern of free names (for `each`)

    @property
    def required(self) -> list[str]:
        """The keys that must be present."""
        return [k for k, key in self.keys.items() if key.required]


def unknown_keys(node: YNode, spec: Spec, what: str, problems: Problems) -> None:
    """Record every key of the mapping that the spec does not allow."""
    problems.unknown_keys(node, spec.keys.keys(), what, spec.unknown, spec.allowed, spec.suggest)


def missing_keys(node: YNode, spec: Spec, what: str, at: Span, problems: Problems) -> bool:
    """Record each absent required key that has its own message (at `at`); True when none is absent."""
    ok = True
    for name in spec.required:
        key = spec.keys[name]
        if node.get(name) is None:
            ok = False
            if key.missing is not None:
                problems.add(at, key.missing.format(what=what, key=name), expected=key.expected, code="missing-key")
    return ok


def check_keys(node: YNode, spec: Spec, what: str, problems: Problems, at: Span | None = None) -> bool:
    """Unknown and missing keys of a mapping; True when every required key is present."""
    unknown_keys(node, spec, what, problems)
    return missing_keys(node, spec, what, node.span if at is None else at, problems)


def child(node: YNode, name: str, spec: Spec, label: str, problems: Problems) -> YNode | None:
    """The value under a key when it has the spec's kind; a wrong kind is recorded under `label`."""
    value = node.get(name)
    kind = spec.keys[name].kind
    if value is None or kind == "any" or problems.expect_kind(value, kind, label):
        return value
    return None


# ---------------------------------------------------------------------------- the tables

_TEXT = {"type": "string"}
_FACT_KEY = "{what} has no '{key}'"

FACT = Spec(
    "a fact",
    {
        "type": Key("scalar", True, _FACT_KEY, "a 'type:' key", {"enum": list(FACT_TYPES)}),
        "values": Key("seq", json={"type": "array", "items": _TEXT}),
        "unit": Key("scalar"),
        "label": Key("scalar", json=_TEXT),
        "range": Key("seq", json={"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}),
        "description": Key("scalar", True, _FACT_KEY, "a 'description:' key", _TEXT),
        "source": Key("scalar", True, _FACT_KEY, "a 'source:' key", {"enum": ["given", "derived", "computed"]}),
        "computed": Key("scalar", json=_TEXT),
        "default": Key("any"),
        "controllable": Key("scalar", json={"type": "boolean"}),
    },
    names=FACT_NAME.pattern,
)
FACTS_YAML = Spec(
    "facts.yaml",
    {"facts": Key("map", True, "missing key 'facts'", "a 'facts:' mapping", each=FACT)},
)
CONDITION = Spec(
    "a comparison",
    {
        "fact": Key("scalar", True, json=_TEXT),
        "op": Key("scalar", True, json={"enum": list(OPERATORS)}),
        "value": Key("any"),
        "value_of": Key("scalar", json=_TEXT),
        "times": Key("scalar", json={"type": "number"}),
        "plus": Key("scalar", json={"type": "number"}),
    },
    unknown="unknown key '{key}' in a condition of {what}",
    allowed="all, any, not, or fact / op / value / value_of / times / plus",
    suggest=GROUPS,
)
ACTION = Spec(
    "an action",
    {
        "id": Key("scalar", True, json={"type": "string", "pattern": RULE_ID.pattern}),
        "text": Key("scalar", True, json=_TEXT),
    },
)
RECOMMEND = Spec(
    "recommend",
    {
        "stage": Key("scalar", json={"enum": list(ALL_STAGES)}),
        "structure": Key("scalar", json={"enum": list(STRUCTURES)}),
        "actions": Key("seq", items=ACTION),
    },
)
THEN = Spec("then", {"derive": Key("map"), "recommend": Key("map", spec=RECOMMEND)})
_RULE_KEY = "{what} has no '{key}'"
RULE = Spec(
    "a rule",
    {
        "id": Key(
            "scalar", True, _RULE_KEY, "id: some-kebab-case-name", {"type": "string", "pattern": RULE_ID.pattern}
        ),
        "description": Key("scalar", True, _RULE_KEY, "a plain-language description", _TEXT),
        "priority": Key("scalar", json={"type": "integer", "minimum": -1_000_000, "maximum": 1_000_000}),
        "when": Key("any", True, _RULE_KEY, "a condition (all / any / not / a comparison)", condition=True),
        "then": Key("map", True, _RULE_KEY, "'then:' with derive and/or recommend", spec=THEN),
        "tags": Key("seq"),
    },
)
RULE_FILE = Spec("a rule file", {"rules": Key("seq", True, "missing key 'rules'", "a 'rules:' list", items=RULE)})
ACCOUNT = Spec(
    "an account file",
    {
        "account": Key(
            "scalar", True, "missing key 'account'", "account: THE-ACCOUNT-ID", {"type": ["string", "number"]}
        ),
        "name": Key("scalar", json=_TEXT),
        "facts": Key("map", True, "missing key 'facts'", "a 'facts:' mapping of given facts"),
    },
)

SPECS = {"facts": FACTS_YAML, "rules": RULE_FILE, "account": ACCOUNT}
"""The file kinds `json_schema` exports."""


# ---------------------------------------------------------------------------- JSON Schema


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one file kind ("facts", "rules", "account"), from the same tables the loader uses."""
    schema = _object(SPECS[kind])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$defs"] = {"condition": _condition()}
    return schema


def _object(spec: Spec) -> dict[str, Any]:
    return {
        "type": "object",
        "title": spec.title,
        "properties": {name: _value(key) for name, key in spec.keys.items()},
        "required": spec.required,
        "additionalProperties": False,
    }


def _value(key: Key) -> dict[str, Any]:
    if key.condition:
        return {"$ref": "#/$defs/condition"}
    if key.spec is not None:
        return _object(key.spec)
    if key.items is not None:
        return {"type": "array", "items": _object(key.items)}
    if key.each is not None:
        return {
            "type": "object",
            "propertyNames": {"pattern": key.each.names},
            "additionalProperties": _object(key.each),
        }
    if key.json is not None:
        return dict(key.json)
    return {"map": {"type": "object"}, "seq": {"type": "array"}, "scalar": _SCALAR, "any": {}}[key.kind]


def _condition() -> dict[str, Any]:
    ref = {"$ref": "#/$defs/condition"}
    many = {"type": "array", "items": ref, "minItems": 1}
    groups = [
        {
            "type": "object",
            "properties": {g: ref if g == "not" else many},
            "required": [g],
            "additionalProperties": False,
        }
        for g in GROUPS
    ]
    return {"anyOf": [*groups, _object(CONDITION)]}
