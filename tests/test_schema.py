"""The declarative schema: the shipped files conform to the exported JSON Schema, and bad shapes do not."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from kamrules.lang import Key, Problems, Spec, check_keys, json_schema, read_yaml
from kamrules.lang.loader import NOT_RULE_FILES

ROOT = Path(__file__).resolve().parent.parent
RULE_FILES = sorted(p for p in (ROOT / "rules").glob("*.yaml") if p.name not in NOT_RULE_FILES)
ACCOUNT_FILES = sorted((ROOT / "examples" / "accounts").glob("*.yaml"))


def _validate(kind: str, path: Path) -> None:
    schema = json_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    # Read as the loader reads (YAML 1.1's safe_load would take 1.0e12 for text), then check the shape.
    jsonschema.validate(read_yaml(path).plain(), schema)


def test_facts_file_conforms():
    """rules/facts.yaml validates against the exported facts schema."""
    _validate("facts", ROOT / "rules" / "facts.yaml")


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_files_conform(path):
    """Every shipped rule file validates against the exported rules schema."""
    _validate("rules", path)


@pytest.mark.parametrize("path", ACCOUNT_FILES, ids=lambda p: p.name)
def test_example_accounts_conform(path):
    """Every example account file validates against the exported account schema."""
    _validate("account", path)


def test_schema_rejects_an_unknown_key_in_a_condition():
    """A misspelt key in a nested condition is a schema error, as it is a loader error."""
    rules = {
        "rules": [
            {
                "id": "r",
                "description": "d",
                "when": {"all": [{"fact": "x", "op": "eq", "valu": 1}]},
                "then": {"recommend": {"stage": "mid-KAM"}},
            }
        ]
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rules, json_schema("rules"))


def test_check_keys_serves_any_file_kind(tmp_path):
    """A new file kind declares a Spec and gets unknown-key (with did-you-mean) and missing-key problems."""
    spec = Spec("a widget", {"name": Key("scalar", True, "{what} has no '{key}'", "name: TEXT"), "size": Key("scalar")})
    path = tmp_path / "w.yaml"
    path.write_text("sise: 3\n")
    problems = Problems()
    assert not check_keys(read_yaml(path), spec, "widget 'w'", problems)
    assert [(p.message, p.help, p.code) for p in sorted(problems, key=lambda p: p.message)] == [
        ("unknown key 'sise' in widget 'w'", "did you mean 'size'?", "unknown-key"),
        ("widget 'w' has no 'name'", None, "missing-key"),
    ]
    assert json_schema("account")["required"] == ["account", "facts"]
