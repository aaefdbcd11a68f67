"""Evaluation: the compiler to durable_rules, the engine adapter, the reference evaluator, evaluate and explain."""

from kamrules.engine.evaluate import ConditionTrace, Decision, Evaluator, Reason, evaluate

# `explain` is not re-exported here: the name is its submodule's (kamrules.engine.explain).
__all__ = ["ConditionTrace", "Decision", "Evaluator", "Reason", "evaluate"]
