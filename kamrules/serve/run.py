"""Serving a Service with uvicorn: its log configuration, and SIGHUP for reloading the rules."""

from __future__ import annotations

import contextlib
import copy
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
    uvicorn.Server(config).run()
