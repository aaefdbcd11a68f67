"""The domain computations: ABC analysis, concentration, future potential, settings and the periodic review."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kamrules import lazy_exports

if TYPE_CHECKING:
    from kamrules.kam.abc import AbcResult, AbcRow, abc_classes
    from kamrules.kam.abc_table import abc_rows
    from kamrules.kam.computed_abc import AbcLimits, ComputedAbc
    from kamrules.kam.concentration import Concentration
    from kamrules.kam.potential import DEFAULT_WEIGHTS, Potential, estimate
    from kamrules.kam.settings import Settings, load_settings
    from kamrules.kam.structure import StructureDecision, load_structure_rules

# name -> the module that defines it, imported when the name is first used (PEP 562): importing one
# submodule of kamrules.kam does not load the others.
_EXPORTS = {
    "AbcLimits": "kamrules.kam.computed_abc",
    "AbcResult": "kamrules.kam.abc",
    "AbcRow": "kamrules.kam.abc",
    "ComputedAbc": "kamrules.kam.computed_abc",
    "Concentration": "kamrules.kam.concentration",
    "DEFAULT_WEIGHTS": "kamrules.kam.potential",
    "Potential": "kamrules.kam.potential",
    "Settings": "kamrules.kam.settings",
    "StructureDecision": "kamrules.kam.structure",
    "abc_classes": "kamrules.kam.abc",
    "abc_rows": "kamrules.kam.abc_table",
    "estimate": "kamrules.kam.potential",
    "load_settings": "kamrules.kam.settings",
    "load_structure_rules": "kamrules.kam.structure",
}

# `review`, `computed_abc` and `concentration` are not re-exported here: each name is its submodule's
# (kamrules.kam.review, ...), and a submodule imported later would rebind the name to itself.
__all__ = [
    "DEFAULT_WEIGHTS",
    "AbcLimits",
    "AbcResult",
    "AbcRow",
    "ComputedAbc",
    "Concentration",
    "Potential",
    "Settings",
    "StructureDecision",
    "abc_classes",
    "abc_rows",
    "estimate",
    "load_settings",
    "load_structure_rules",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
