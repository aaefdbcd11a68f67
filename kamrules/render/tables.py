"""tabulate, imported when the first table is drawn, without loading importlib.metadata for its version."""

from __future__ import annotations

import sys
import types
from typing import Any


def tabulate(*args: Any, **kwargs: Any) -> str:
    """tabulate.tabulate, imported on first use: JSON output never draws a table."""
    if "tabulate" not in sys.modules:
        _import_tabulate()
    from tabulate import tabulate as table

    return table(*args, **kwargs)


def _import_tabulate() -> None:
    """Import tabulate while a stand-in answers its version lookup; its ``__version__`` is looked up when read."""
    # tabulate 0.10 sets __version__ at import through importlib.metadata, whose own imports (the email
    # package, zipfile, sockets) and scan of the installed distributions were 15-20 ms of `kamrules evaluate`,
    # a tenth of its run. tabulate's own imports (html, textwrap, the optional wcwidth) do not use it; a
    # program that has loaded importlib.metadata already (the service: FastAPI does) imports tabulate as it is.
    if "importlib.metadata" in sys.modules:
        return
    stand_in = types.ModuleType("importlib.metadata")
    stand_in.PackageNotFoundError = LookupError  # type: ignore[attr-defined]
    stand_in.version = _not_looked_up  # type: ignore[attr-defined]
    sys.modules["importlib.metadata"] = stand_in
    try:
        import tabulate
    finally:
        del sys.modules["importlib.metadata"]
    if tabulate.__dict__.get("__version__") == _NOT_LOOKED_UP:
        del tabulate.__version__
        tabulate.__getattr__ = _tabulate_version  # type: ignore[method-assign]


_NOT_LOOKED_UP = "unknown"  # what tabulate sets when the lookup fails


def _not_looked_up(name: str) -> str:
    raise LookupError(name)


def _tabulate_version(name: str) -> str:
    """tabulate's ``__version__`` (PEP 562), from importlib.metadata when first read, as tabulate would have it."""
    if name != "__version__":
        raise AttributeError(f"module 'tabulate' has no attribute {name!r}")
    from importlib.metadata import version

    return version("tabulate")
