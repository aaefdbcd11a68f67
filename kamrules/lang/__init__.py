"""The rule language: YAML sources with positions, the schema, the operator registry, the model and the loaders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kamrules import lazy_exports

if TYPE_CHECKING:
    from kamrules.lang.accounts import (
        account_from_node,
        account_id_problem,
        fact_value_problem,
        load_account,
        load_accounts,
        observation_problem,
    )
    from kamrules.lang.loader import FACTS_FILE, SETTINGS_FILE, load_ruleset, load_ruleset_texts, ruleset_version
    from kamrules.lang.model import (
        ALL_STAGES,
        STAGES,
        STRUCTURES,
        UNCOUPLING,
        Account,
        AllOf,
        AnyOf,
        Condition,
        Fact,
        Leaf,
        Not,
        Rule,
        RuleSet,
        stage_index,
        stage_move,
    )
    from kamrules.lang.ops import OPS, Operator
    from kamrules.lang.problems import Problems, did_you_mean, value_problem
    from kamrules.lang.schema import RULE_ID, Key, Spec, check_keys, json_schema
    from kamrules.lang.source import YNode, describe_value, is_finite_number, read_text, read_yaml

# name -> the module that defines it, imported when the name is first used (PEP 562): importing one
# submodule of kamrules.lang does not load the others.
_EXPORTS = {
    "ALL_STAGES": "kamrules.lang.model",
    "Account": "kamrules.lang.model",
    "AllOf": "kamrules.lang.model",
    "AnyOf": "kamrules.lang.model",
    "Condition": "kamrules.lang.model",
    "FACTS_FILE": "kamrules.lang.loader",
    "Fact": "kamrules.lang.model",
    "Key": "kamrules.lang.schema",
    "Leaf": "kamrules.lang.model",
    "Not": "kamrules.lang.model",
    "OPS": "kamrules.lang.ops",
    "Operator": "kamrules.lang.ops",
    "Problems": "kamrules.lang.problems",
    "RULE_ID": "kamrules.lang.schema",
    "Rule": "kamrules.lang.model",
    "RuleSet": "kamrules.lang.model",
    "SETTINGS_FILE": "kamrules.lang.loader",
    "STAGES": "kamrules.lang.model",
    "STRUCTURES": "kamrules.lang.model",
    "Spec": "kamrules.lang.schema",
    "UNCOUPLING": "kamrules.lang.model",
    "YNode": "kamrules.lang.source",
    "account_from_node": "kamrules.lang.accounts",
    "account_id_problem": "kamrules.lang.accounts",
    "check_keys": "kamrules.lang.schema",
    "describe_value": "kamrules.lang.source",
    "did_you_mean": "kamrules.lang.problems",
    "fact_value_problem": "kamrules.lang.accounts",
    "is_finite_number": "kamrules.lang.source",
    "json_schema": "kamrules.lang.schema",
    "load_account": "kamrules.lang.accounts",
    "load_accounts": "kamrules.lang.accounts",
    "load_ruleset": "kamrules.lang.loader",
    "load_ruleset_texts": "kamrules.lang.loader",
    "observation_problem": "kamrules.lang.accounts",
    "read_text": "kamrules.lang.source",
    "read_yaml": "kamrules.lang.source",
    "ruleset_version": "kamrules.lang.loader",
    "stage_index": "kamrules.lang.model",
    "stage_move": "kamrules.lang.model",
    "value_problem": "kamrules.lang.problems",
}

__all__ = [
    "ALL_STAGES",
    "FACTS_FILE",
    "OPS",
    "RULE_ID",
    "SETTINGS_FILE",
    "STAGES",
    "STRUCTURES",
    "UNCOUPLING",
    "Account",
    "AllOf",
    "AnyOf",
    "Condition",
    "Fact",
    "Key",
    "Leaf",
    "Not",
    "Operator",
    "Problems",
    "Rule",
    "RuleSet",
    "Spec",
    "YNode",
    "account_from_node",
    "account_id_problem",
    "check_keys",
    "describe_value",
    "did_you_mean",
    "fact_value_problem",
    "is_finite_number",
    "json_schema",
    "load_account",
    "load_accounts",
    "load_ruleset",
    "load_ruleset_texts",
    "observation_problem",
    "read_text",
    "read_yaml",
    "ruleset_version",
    "stage_index",
    "stage_move",
    "value_problem",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
