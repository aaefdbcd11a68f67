"""Every decision the service makes goes into the decision log before its response leaves.

Requests do not each open a transaction: one writer thread takes whatever decisions are waiting and
appends them in one transaction (a group commit), so the log's chain stays linear and one disk
sync serves many requests. A request waits for the commit of its own decisions and gets their ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kamrules.audit import log as audit
from kamrules.audit import store
from kamrules.engine import Decision
from kamrules.lang import RuleSet

if TYPE_CHECKING:
    import polars as pl

COMMAND = "serve"
# Decisions one transaction takes at most, so a burst of batches cannot hold the write lock for long.
MAX_PER_COMMIT = 20_000


@dataclass(frozen=True)
class Part:
    """Decisions made with one rule set, of one kind ("account" or "portfolio"): Decisions, or a frame of them."""

    decisions: tuple[Decision, ...]
    ruleset: RuleSet
    kind: str = "account"
    frame: pl.DataFrame | None = None
    """A compact decision frame (audit/frames.py), recorded as a Parquet block, instead of ``decisions``."""

    @property
    def size(self) -> int:
        """How many decisions."""
        return len(self.decisions) if self.frame is None else self.frame.height


Then = Callable[["list[str] | BaseException"], Any]
"""What a request does with its decisions' ids (or the reason they were not recorded), in its event loop."""


@dataclass(frozen=True)
class _Job:
    parts: tuple[Part, ...]
    done: Future[list[str]] = field(default_factory=Future)
    loop: asyncio.AbstractEventLoop | None = None
    then: Then | None = None

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)


class DecisionLog:
    """The service's one writer to the log at ``path``; ``submit`` returns a future of the decision ids."""

    def __init__(self, path: Path, ruleset: RuleSet, lock: Path | None = None) -> None:
        self.path = path
        # lock: a file the writers of the service's other processes lock too, around each commit. SQLite's own
        # wait for its write lock sleeps 1, 2, 5, 10... ms between tries, far longer than a commit holds it
        # (with 2 processes their writers spent a quarter of their time so); a lock on a file wakes the next
        # writer as soon as the last one lets go.
        self._lock = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600) if lock is not None else None
        with store.connect(path, write=True):  # creates the log (or fails) before the first request
            pass
        # The writer keeps its connection (opening one and closing it cost more than a small commit, and the
        # last connection's close checkpoints the write-ahead log); it opens the log again when the file at
        # the path is another one (moved, replaced, removed), so nothing is written to a file no longer there.
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="kamrules-decision-log", daemon=True)
        self._thread.start()

    def submit(self, parts: Sequence[Part]) -> Future[list[str]]:
        """Queue decisions for the next commit; the future gives their ids, in order, once they are committed."""
        job = _Job(tuple(parts))
        self._jobs.put(job)
        return job.done

    def submit_then(self, parts: Sequence[Part], loop: asyncio.AbstractEventLoop, then: Then) -> None:
        """Queue decisions for the next commit; ``then(ids)`` (or ``then(error)``) runs in ``loop`` after it.

        The jobs of one commit are handed to their loop in one call: one wake-up of the loop per commit
        instead of one per request (each wake-up is a write to the loop's socket and a future chained).
        """
        self._jobs.put(_Job(tuple(parts), loop=loop, then=then))

    @property
    def alive(self) -> bool:
        """True while the writer runs."""
        return self._thread.is_alive()

    def close(self) -> None:
        """Commit what is queued, then stop the writer."""
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            jobs: list[_Job] = []
            size = 0
            job = self._jobs.get()
            while job is not None:
                jobs.append(job)
                size += job.size
                if size >= MAX_PER_COMMIT:
                    break
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
            stop = job is None
            if jobs:
                self._commit(jobs)
        if self._conn is not None:
            self._conn.close()
        if self._lock is not None:
            os.close(self._lock)

    def _connection(self) -> sqlite3.Connection:
        """The writer's connection to the file at the log's path now (opened again if that is another file)."""
        if self._conn is not None and _identity(self.path) == self._file:
            return self._conn
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._conn = store.open_log(self.path, write=True)  # a problem (InvalidInput) if it cannot be
        self._file = _identity(self.path)
        return self._conn

    def _commit(self, jobs: list[_Job]) -> None:
        first = next((p.ruleset for job in jobs for p in job.parts), None)
        ids: list[str] = []
        try:
            if first is not None:
                with (
                    _locked(self._lock),
                    audit.Recorder(self.path, first, COMMAND, at_once=True, conn=self._connection()) as rec,
                ):
                    for decisions, ruleset, kind in _blocks(jobs):
                        # The run's own rule set is stored once; another (a reload, the portfolio rules) too.
                        rs = None if ruleset is first else ruleset
                        if isinstance(decisions, list):
                            done = len(rec.ids)
                            rec.add(decisions, rs, kind)
                            ids.extend(rec.ids[done:])
                        else:
                            ids.extend(rec.add_frame(decisions, rs, kind).to_list())
        except Exception as e:  # every waiting request learns that its decisions were not recorded
            if self._conn is not None:  # and the next commit starts on a new connection
                self._conn.close()
                self._conn = None
            _deliver(jobs, [e] * len(jobs))
            return
        results: list[list[str] | BaseException] = []
        start = 0
        for job in jobs:
            results.append(ids[start : start + job.size])
            start += job.size
        _deliver(jobs, results)


@contextlib.contextmanager
def _locked(fd: int | None) -> Iterator[None]:
    if fd is None:
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)  # the GIL is let go while waiting
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _deliver(jobs: list[_Job], results: Sequence[list[str] | BaseException]) -> None:
    """Each job's ids or error: to its future, or with the other jobs of its loop in one call to that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Then, list[str] | BaseException]]] = {}
    for job, result in zip(jobs, results, strict=True):
        if job.loop is not None and job.then is not None:
            by_loop.setdefault(job.loop, []).append((job.then, result))
        elif isinstance(result, BaseException):
            job.done.set_exception(result)
        else:
            job.done.set_result(result)
    for loop, calls in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: no request is left to answer
            loop.call_soon_threadsafe(_call_each, calls)


def _call_each(calls: list[tuple[Then, list[str] | BaseException]]) -> None:
    for then, result in calls:
        then(result)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


Block = tuple["list[Decision] | pl.DataFrame", RuleSet, str]


def _blocks(jobs: list[_Job]) -> list[Block]:
    """The waiting decisions as log blocks: neighbouring parts of one rule set and kind in one block."""
    # Each block is a transaction and a disk sync of its own: sixteen requests waiting make one block, not
    # sixteen. The order is kept, so the ids still come back in the order the decisions were sent. A frame
    # is a block of its own (Parquet).
    blocks: list[Block] = []
    for job in jobs:
        for p in job.parts:
            if p.frame is not None:
                blocks.append((p.frame, p.ruleset, p.kind))
                continue
            last = blocks[-1] if blocks else None
            if last is not None and isinstance(last[0], list) and last[1] is p.ruleset and last[2] == p.kind:
                last[0].extend(p.decisions)
            else:
                blocks.append((list(p.decisions), p.ruleset, p.kind))
    return blocks
