"""The decision service over HTTP (`kamrules serve`): rules, decision log, API and server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kamrules import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)
