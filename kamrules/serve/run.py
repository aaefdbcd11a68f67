"""Serving with uvicorn: one process, or several on one port; their log configuration, and SIGHUP for reloads."""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import signal
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.supervisors import Multiprocess

from kamrules.errors import InvalidInput
from kamrules.serve.app import create_app
from kamrules.serve.rules import Rules, Shared
from kamrules.serve.service import ServeConfig, Service, reload_logged


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with kamrules' own logger (reloads, internal errors and their ids) beside it."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["kamrules"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def collect_less() -> None:
    """Fewer garbage collections: a batch makes ~500,000 objects, and each full collection walks them all."""
    # With the default thresholds the collector took more than half of a batch's time. What is loaded at
    # start (rules, engines, modules) is moved out of its reach; the young generation is collected every
    # 50,000 allocations instead of 700. A decision makes few cycles, so little waits longer to be freed.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _reload_quietly(service: Service) -> None:
    with contextlib.suppress(InvalidInput):  # refused and logged with its problems; the old version serves on
        service.reload()


def _on_sighup(service: Service) -> None:
    if hasattr(signal, "SIGHUP"):
        # A signal handler must return at once: the reload runs in a thread of its own.
        signal.signal(
            signal.SIGHUP,
            lambda *_: threading.Thread(target=_reload_quietly, args=(service,), name="kamrules-reload").start(),
        )


def _uvicorn(app: Any, host: str, port: int, access_log: bool, **more: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=log_config(),
        access_log=access_log,
        timeout_graceful_shutdown=30,
        **more,
    )


def serve(service: Service, host: str, port: int, access_log: bool = False, processes: int = 1) -> None:
    """Listen until SIGINT or SIGTERM; SIGHUP reloads the rules (checked first) without stopping.

    ``processes`` > 1: that many server processes share the port (uvicorn's supervisor); ``service`` has
    checked the rules and the log and is closed, each process opening its own.
    """
    if processes > 1:
        service.close()
        _serve_processes(service.config, host, port, access_log, processes)
        return
    config = _uvicorn(create_app(service), host, port, access_log)
    _on_sighup(service)
    collect_less()
    uvicorn.Server(config).run()


def process_app(config: ServeConfig) -> Any:
    """The application of one server process of several (uvicorn calls it in the process, at its start)."""
    service = Service(config)
    _on_sighup(service)  # a SIGHUP sent to the whole process group: each reloads, and the others follow
    collect_less()
    return create_app(service)


def _serve_processes(config: ServeConfig, host: str, port: int, access_log: bool, processes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kamrules-serve-") as folder:
        path = Path(folder) / "rules-version"
        rules = Rules(config.rules_dir)
        path.write_text(rules.current.version + "\n", encoding="utf-8")
        shared = replace(config, shared=path)
        app = functools.partial(process_app, shared)
        ucfg = _uvicorn(app, host, port, access_log, factory=True, workers=processes)
        _Supervisor(ucfg, [ucfg.bind_socket()], rules, Shared(path)).run()


class _Supervisor(Multiprocess):
    """uvicorn's supervisor of server processes, whose SIGHUP reloads the rules instead of restarting them."""

    def __init__(self, config: uvicorn.Config, sockets: list[Any], rules: Rules, shared: Shared) -> None:
        super().__init__(config, sockets)
        self.rules, self.shared = rules, shared

    def handle_hup(self) -> None:
        """Check the folder here; a good one is announced and every process follows, a broken one is refused."""
        with contextlib.suppress(InvalidInput):  # logged with its problems; every process serves on as it was
            done = reload_logged(self.rules)
            self.shared.announce(done.current)
