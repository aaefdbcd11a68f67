"""The domain computations: ABC analysis, concentration, future potential, settings and the periodic review."""

from kamrules.kam.settings import Settings, load_settings

# `review` is not re-exported here: the name is its submodule's (kamrules.kam.review).
__all__ = ["Settings", "load_settings"]
