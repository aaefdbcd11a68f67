"""kamrules: rule-based decision support for Key Account Management."""

from __future__ import annotations

__version__ = "0.1.0"

from kamrules.engine.evaluate import Decision, Evaluator, evaluate
from kamrules.errors import CheckFailed, EngineError, InvalidInput, KamrulesError, Problem
from kamrules.lang import load_account, load_ruleset
from kamrules.lang.model import Account, RuleSet

__all__ = [
    "Account",
    "CheckFailed",
    "Decision",
    "EngineError",
    "Evaluator",
    "InvalidInput",
    "KamrulesError",
    "Problem",
    "RuleSet",
    "__version__",
    "evaluate",
    "load_account",
    "load_ruleset",
]
