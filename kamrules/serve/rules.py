"""The rules a service decides with: loaded and checked whole, swapped atomically, one Evaluator per worker thread."""

from __future__ import annotations

import datetime as dt
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from kamrules.engine import Evaluator
from kamrules.errors import InvalidInput, Problem
from kamrules.kam import Settings, load_settings, load_structure_rules
from kamrules.kam.engines import PortfolioRules
from kamrules.lang import RuleSet, load_ruleset

# Engines a worker thread keeps: single and batch, for the current version and the one before it (requests
# still on it).
KEPT_PER_THREAD = 4


@dataclass(frozen=True)
class Loaded:
    """One version of a rules folder: the rule set, its settings and its portfolio rules."""

    directory: str
    ruleset: RuleSet
    settings: Settings
    structure_rules: RuleSet | None

    @property
    def version(self) -> str:
        """The rule set's version: the SHA-256 of facts.yaml, the rule files and settings.yaml."""
        return self.ruleset.version


def load(directory: str | Path) -> Loaded:
    """Every file of a rules folder, checked together: one InvalidInput with all the problems of all of them."""
    problems: list[Problem] = []
    parts: list[object] = []
    for loader in (load_ruleset, load_settings, load_structure_rules):
        try:
            parts.append(loader(directory))
        except InvalidInput as e:
            problems.extend(e.problems)
    if problems:
        raise InvalidInput(problems)
    ruleset, settings, structure = parts
    assert isinstance(ruleset, RuleSet) and isinstance(settings, Settings)
    assert structure is None or isinstance(structure, RuleSet)
    return Loaded(str(directory), ruleset, settings, structure)


@dataclass(frozen=True)
class Reloaded:
    """What a reload did: the version before, the version now, and whether they differ."""

    previous: str
    current: str

    @property
    def changed(self) -> bool:
        """True when the folder's content changed since the last load."""
        return self.previous != self.current


class Rules:
    """The version being served: a request takes ``current`` once and finishes on it, whatever a reload does."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = directory
        self.current = load(directory)
        self._reloading = threading.Lock()

    def reload(self) -> Reloaded:
        """Check the folder; a broken one raises InvalidInput and the old version keeps serving, else swap."""
        with self._reloading:  # two reloads at once would only race to the same end
            before = self.current
            self.current = load(self.directory)  # one reference assignment: atomic for every reader
            return Reloaded(before.version, self.current.version)


Mark = tuple[int, int]


class Shared:
    """The file the processes of one service share: a reload in one of them rewrites it, the others follow."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = self.mark()
        """The mark of the last change this process has acted on (or made)."""

    def mark(self) -> Mark:
        """The file's identity now: a rewrite (a new file renamed over it) changes its inode and mtime."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:  # the service is stopping (its folder removed): nothing new to follow
            return self.seen
        return st.st_ino, st.st_mtime_ns

    def changed(self) -> bool:
        """True when another process announced a reload this one has not followed yet (one stat, ~1 µs)."""
        return self.mark() != self.seen

    def announce(self, version: str) -> None:
        """Tell the other processes that the rules were reloaded (written beside, then renamed: atomic)."""
        part = self.path.with_name(f"{self.path.name}.{os.getpid()}")
        part.write_text(version + "\n", encoding="utf-8")
        st = os.stat(part)
        self.seen = (st.st_ino, st.st_mtime_ns)  # before the rename, so this process does not follow itself
        os.replace(part, self.path)


class _Engine(Protocol):
    def close(self) -> None: ...


E = TypeVar("E", bound=_Engine)
_Key = tuple[str, str, dt.date, int]


class _Cache:
    """One worker thread's engines, by kind, rules version and review date (an Evaluator fixes its date)."""

    def __init__(self) -> None:
        self.by_key: OrderedDict[_Key, _Engine] = OrderedDict()
        # The evaluators hold engines in the C library: free them when the thread (and so this cache) goes.
        weakref.finalize(self, _close_all, self.by_key)


def _close_all(engines: OrderedDict[_Key, _Engine]) -> None:
    for engine in engines.values():
        engine.close()
    engines.clear()


_local = threading.local()


def _cached(key: _Key, make: Callable[[], E]) -> E:
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = _Cache()
    engine = cache.by_key.get(key)
    if engine is None:
        engine = cache.by_key[key] = make()
        while len(cache.by_key) > KEPT_PER_THREAD:
            cache.by_key.popitem(last=False)[1].close()
    cache.by_key.move_to_end(key)
    return engine  # type: ignore[return-value]  # each key's kind says which engine it holds


def _rules_key(loaded: Loaded) -> str:
    # The version and the folder: the same rule files in another folder name that folder in every reason.
    return f"{loaded.version}@{loaded.ruleset.directory}"


def evaluator(loaded: Loaded, day: dt.date) -> Evaluator:
    """This thread's Evaluator for a rules version and review date; never shared with another thread."""
    return _cached(("durable", _rules_key(loaded), day, 0), lambda: Evaluator(loaded.ruleset, as_of=day))


def batch_rules(loaded: Loaded, day: dt.date, cross_check: int) -> PortfolioRules:
    """This thread's columnar plan (with durable_rules for the cross-check) for a rules version and review date."""
    return _cached(
        ("columnar", _rules_key(loaded), day, cross_check),
        lambda: PortfolioRules(loaded.ruleset, day, "columnar", cross_check),
    )
