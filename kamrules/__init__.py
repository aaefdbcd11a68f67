"""kamrules: rule-based decision support for Key Account Management."""
from __future__ import annotations

__version__ = "0.1.0"

from kamrules.errors import CheckFailed, EngineError, InvalidInput, KamrulesError, Problem  # noqa: E402
from kamrules.engine.evaluate import Decision, Evaluator, evaluate  # noqa: E402
from kamrules.lang.loader import load_account, load_ruleset  # noqa: E402
from kamrules.lang.model import Account, RuleSet  # noqa: E402

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
    "evaluate",
    "load_account",
    "load_ruleset",
    "__version__",
]
