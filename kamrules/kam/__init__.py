"""The domain computations: ABC analysis, concentration, future potential, settings and the periodic review."""

from kamrules.kam.abc import AbcResult, AbcRow, abc_classes
from kamrules.kam.abc_table import abc_rows
from kamrules.kam.computed_abc import AbcLimits, ComputedAbc, computed_abc
from kamrules.kam.concentration import Concentration, concentration
from kamrules.kam.potential import DEFAULT_WEIGHTS, Potential, estimate
from kamrules.kam.settings import Settings, load_settings
from kamrules.kam.structure import StructureDecision, load_structure_rules

# `review` is not re-exported here: the name is its submodule's (kamrules.kam.review).
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
    "computed_abc",
    "concentration",
    "estimate",
    "load_settings",
    "load_structure_rules",
]
