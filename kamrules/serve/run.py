"""Serving with uvicorn: one process, or several on one port; their log configuration, and SIGHUP for reloads."""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG, STARTUP_FAILURE
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
    # One process a core: each process's polars in one thread of its own, not a pool as large as the machine
    # competing with the other processes (batches of 1,000 with 2 processes: 76-78 against 85-87 ms of server
    # CPU a batch, 13,100-13,300 against 12,000 accounts/s). The processes inherit it; a value set stays.
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="kamrules-serve-") as folder:
        path = Path(folder) / "rules-version"
        rules = Rules(config.rules_dir)
        path.write_text(rules.current.version + "\n", encoding="utf-8")
        shared = replace(config, shared=path)
        app = functools.partial(process_app, shared)
        ucfg = _uvicorn(app, host, port, access_log, factory=True, workers=processes)
        _listening(ucfg).close()  # the address can be had (else exit 3, as uvicorn's own bind), before any start
        _Supervisor(ucfg, rules, Shared(path)).run()


def _listening(config: uvicorn.Config) -> socket.socket:
    """A socket of its own for one server process, on the service's address beside the others (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as err:
        sock.close()
        logging.getLogger("uvicorn.error").error(err)
        sys.exit(STARTUP_FAILURE)
    sock.set_inheritable(True)
    return sock


class _Supervisor(Multiprocess):
    """uvicorn's supervisor of server processes, whose SIGHUP reloads the rules instead of restarting them.

    Each process listens on a socket of its own: the kernel deals new connections among them evenly. On one
    shared socket the process that woke first took most of them (64 connections: 4.6 against 1.7 s of CPU).
    """

    def __init__(self, config: uvicorn.Config, rules: Rules, shared: Shared) -> None:
        super().__init__(config, [])
        self.rules, self.shared = rules, shared

    @property  # uvicorn reads self.sockets for every process it starts
    def sockets(self) -> list[socket.socket]:
        """A new socket for the process about to start; the parent's copy is closed once it has started."""
        return [_listening(self.config)]

    @sockets.setter
    def sockets(self, _value: list[socket.socket]) -> None:
        pass  # Multiprocess.__init__ sets it

    def handle_hup(self) -> None:
        """Check the folder here; a good one is announced and every process follows, a broken one is refused."""
        with contextlib.suppress(InvalidInput):  # logged with its problems; every process serves on as it was
            done = reload_logged(self.rules)
            self.shared.announce(done.current)
