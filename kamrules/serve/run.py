"""Serving a Service with uvicorn: its log configuration, and SIGHUP for reloading the rules."""

from __future__ import annotations

import contextlib
import copy
import gc
import signal
import threading
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from kamrules.errors import InvalidInput
from kamrules.serve.app import create_app
from kamrules.serve.service import Service


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with kamrules' own logger (reloads, internal errors and their ids) beside it."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["kamrules"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _reload_quietly(service: Service) -> None:
    with contextlib.suppress(InvalidInput):  # refused and logged with its problems; the old version serves on
        service.reload()


def collect_less() -> None:
    """Fewer garbage collections: a batch makes ~500,000 objects, and each full collection walks them all."""
    # With the default thresholds the collector took more than half of a batch's time. What is loaded at
    # start (rules, engines, modules) is moved out of its reach; the young generation is collected every
    # 50,000 allocations instead of 700. A decision makes few cycles, so little waits longer to be freed.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def serve(service: Service, host: str, port: int, access_log: bool = False) -> None:
    """Listen until SIGINT or SIGTERM; SIGHUP reloads the rules (checked first) without stopping."""
    config = uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        log_config=log_config(),
        access_log=access_log,
        timeout_graceful_shutdown=30,
    )
    if hasattr(signal, "SIGHUP"):
        # A signal handler must return at once: the reload runs in a thread of its own.
        signal.signal(
            signal.SIGHUP,
            lambda *_: threading.Thread(target=_reload_quietly, args=(service,), name="kamrules-reload").start(),
        )
    collect_less()
    uvicorn.Server(config).run()
