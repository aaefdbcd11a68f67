"""kamrules: rule-based decision support for Key Account Management."""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kamrules.engine.evaluate import Decision, Evaluator, evaluate
    from kamrules.errors import CheckFailed, EngineError, InvalidInput, KamrulesError, Problem
    from kamrules.lang import load_account, load_ruleset
    from kamrules.lang.model import Account, RuleSet

# name -> the module that defines it. They are imported on first use (PEP 562), so that
# `kamrules --version` and every module reading __version__ do not load the engine.
_EXPORTS = {
    "Account": "kamrules.lang.model",
    "CheckFailed": "kamrules.errors",
    "Decision": "kamrules.engine.evaluate",
    "EngineError": "kamrules.errors",
    "Evaluator": "kamrules.engine.evaluate",
    "InvalidInput": "kamrules.errors",
    "KamrulesError": "kamrules.errors",
    "Problem": "kamrules.errors",
    "RuleSet": "kamrules.lang.model",
    "evaluate": "kamrules.engine.evaluate",
    "load_account": "kamrules.lang",
    "load_ruleset": "kamrules.lang",
}

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


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A package's ``__getattr__`` (PEP 562): a public name's module is imported when the name is first used."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__


__getattr__ = lazy_exports(__name__, _EXPORTS)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off inside, as it was after: for imports, whose objects live for the whole run.

    When modules were loaded inside, what was made is frozen (``gc.freeze``): the collector never scans it again.
    """
    # Nearly nothing a command's modules make while they load becomes garbage: the collector's passes over
    # it (about 30) were some 5 ms of `kamrules evaluate`'s start-up. Left in the young generation, the
    # same objects (tens of thousands) were scanned by the first collections after loading: 6-8 ms more.
    enabled, loaded = gc.isenabled(), len(sys.modules)
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) != loaded:  # not again and again in a process that runs many commands (tests)
            gc.freeze()
        if enabled:
            gc.enable()


def __dir__() -> list[str]:
    """The public names, as without lazy imports."""
    return sorted(set(globals()) | set(__all__))
