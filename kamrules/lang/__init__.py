"""The rule language: YAML sources with positions, the schema, the operator registry, the model and the loaders."""

from kamrules.lang.accounts import (
    account_from_node,
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
