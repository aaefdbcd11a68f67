"""The decision service over HTTP (`kamrules serve`): rules, decision log, API and server."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kamrules.serve.app import create_app
    from kamrules.serve.run import serve
    from kamrules.serve.service import ServeConfig, Service

# name -> the module that defines it, imported when the name is first used (PEP 562): importing one
# submodule of kamrules.serve does not load the others.
_EXPORTS = {
    "ServeConfig": "kamrules.serve.service",
    "Service": "kamrules.serve.service",
    "create_app": "kamrules.serve.app",
    "serve": "kamrules.serve.run",
}

__all__ = ["ServeConfig", "Service", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
