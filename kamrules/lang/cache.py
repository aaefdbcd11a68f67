"""Parsed rule sets kept on disk with everything the parse read, so a command skips re-parsing the YAML.

An entry keeps, beside the rule set, what it was parsed from: kamrules' version, Python's version, the name
and size and modification time of every module that parses rules (kamrules/errors.py and kamrules/lang/, so
an edited checkout is no older release), the folder as given (it names the files in every position) and each
file's name and text. It is used only when all of that equals the present, so nothing read from the cache
can be stale: a changed rule is a changed text. Its file name is a CRC-32 of the same (not a cryptographic
hash: loading OpenSSL's would cost evaluate 2-3 ms of start-up), so two folders whose names collide only take
turns in one entry. Only rule sets that loaded without a problem are kept; an invalid folder is parsed, and
reported, every time.

An entry also keeps what other layers compute from its rule set alone (``companion``: the durable_rules
rulesets it compiles to), each with the name, size and modification time of the code that computed it.

``$KAMRULES_CACHE`` is the cache folder (``off`` turns the cache off); the default is
``$XDG_CACHE_HOME/kamrules``, else ``~/.cache/kamrules``. A cache that cannot be read or written is a miss.
"""

from __future__ import annotations

import binascii
import contextlib
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from kamrules import __version__
from kamrules.errors import InvalidInput
from kamrules.lang.model import RuleSet

ENV_CACHE = "KAMRULES_CACHE"
_SOURCES = [Path(__file__).parent.parent / "errors.py", *sorted(Path(__file__).parent.glob("*.py"))]
T = TypeVar("T")
# The rule sets this process read from or kept in the cache, by identity (the object is held, so its id is not
# reused): their entries, where a companion is kept. The last few only, as a service reloads its rules.
_known: dict[int, tuple[RuleSet, Path, Origin, dict[str, Any]]] = {}
_KNOWN = 8


def cache_dir() -> Path | None:
    """The cache folder, or None when ``$KAMRULES_CACHE`` is ``off``."""
    given = os.environ.get(ENV_CACHE)
    if given:
        return None if given == "off" else Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kamrules"


Origin = tuple[str, str, tuple[tuple[str, int, int], ...], str, tuple[tuple[str, str], ...]]


def origin(directory: str, files: Sequence[tuple[str, str]]) -> Origin:
    """What a rule set parsed from ``files`` (name, text) of ``directory`` by this kamrules depends on."""
    return (__version__, sys.version, _stats(_SOURCES), directory, tuple(files))


def _stats(sources: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    return tuple((src.name, st.st_size, st.st_mtime_ns) for src in sources for st in [src.stat()])


def cache_key(kept: Origin) -> str:
    """The file name of the entry for ``kept``: a CRC-32 of it, as 8 hex digits."""
    return f"{binascii.crc32(repr(kept).encode()):08x}"


Parse = Callable[[Callable[[str], str]], RuleSet]


def cached(directory: str, names: Sequence[str], read: Callable[[str], str], parse: Parse) -> RuleSet:
    """The rule set of the files ``names``, read by ``read``: from the cache when kept, else parsed and kept."""
    folder = cache_dir()
    if folder is None:
        return parse(read)
    try:
        files = [(name, read(name)) for name in names]
    except InvalidInput:  # the parse reports it, with every other problem of the folder
        return parse(read)
    kept = origin(directory, files)
    path = folder / f"{cache_key(kept)}.pickle"
    entry = _read(path, kept)
    if entry is not None:
        ruleset, companions = entry
    else:
        ruleset, companions = parse(dict(files).__getitem__), {}
        _keep(folder, path, (kept, ruleset, companions))
    _known[id(ruleset)] = (ruleset, path, kept, companions)
    while len(_known) > _KNOWN:
        del _known[next(iter(_known))]
    return ruleset


def companion(ruleset: RuleSet, kind: str, sources: Sequence[Path], compute: Callable[[], T]) -> T:
    """``compute()``, made from ``ruleset`` alone by the code in ``sources``: kept in the rule set's cache entry.

    Only for the very rule set object read from (or kept in) the cache: a rule set made or changed in memory
    is computed every time. A kept value is used only while each source's name, size and modification time
    are unchanged.
    """
    known = _known.get(id(ruleset))
    if known is None or known[0] is not ruleset:
        return compute()
    _, path, kept, companions = known
    stats = _stats(sources)
    if kind in companions and companions[kind][0] == stats:
        return companions[kind][1]  # type: ignore[no-any-return]
    value = compute()
    companions[kind] = (stats, value)
    _keep(path.parent, path, (kept, ruleset, companions))
    return value


def _read(path: Path, kept: Origin) -> tuple[RuleSet, dict[str, Any]] | None:
    """The rule set and companions of the entry at ``path`` when it was kept for ``kept``, else None."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f)
        if isinstance(entry, tuple) and len(entry) == 3 and entry[0] == kept:
            ruleset, companions = entry[1:]
            if isinstance(ruleset, RuleSet) and isinstance(companions, dict):
                return ruleset, companions
    except Exception:  # a missing, damaged or unreadable entry (any error of pickle) is a miss, parsed again
        pass
    return None


def _keep(folder: Path, path: Path, entry: tuple[Origin, RuleSet, dict[str, Any]]) -> None:
    """Write the entry whole (a temporary file renamed), or not at all when the folder is not writable."""
    import tempfile  # shutil and random, only when a rule set is parsed

    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(entry, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
