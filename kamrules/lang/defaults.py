"""Where the rules come from: ``--rules``, else ``./rules``, else ``$KAMRULES_RULES``, else the shipped defaults.

The default rules, facts and settings are the repository's top-level ``rules/`` folder; a wheel
carries it as ``kamrules/defaults/rules`` (pyproject.toml maps the folder into the package), so
one copy exists in the source and kamrules works from any directory once installed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV_RULES", "RulesSource", "find_rules", "shipped"]

ENV_RULES = "KAMRULES_RULES"
_PACKAGE = Path(__file__).resolve().parent.parent


def shipped(folder: str = "rules") -> Path:
    """A folder shipped with kamrules: inside the installed package, or the source checkout's own."""
    installed = _PACKAGE / "defaults" / folder
    return installed if installed.is_dir() else _PACKAGE.parent / folder


@dataclass(frozen=True)
class RulesSource:
    """A rules folder and why it was chosen: "option", "current folder", "environment" or "shipped"."""

    path: str
    origin: str


def find_rules(option: str | None) -> RulesSource:
    """The rules folder to use, by the documented order."""
    if option:
        return RulesSource(option, "option")
    if Path("rules").is_dir():
        return RulesSource("rules", "current folder")
    env = os.environ.get(ENV_RULES)
    if env:
        return RulesSource(env, "environment")
    return RulesSource(str(shipped()), "shipped")
