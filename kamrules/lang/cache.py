"""Parsed rule sets kept on disk, keyed by everything the parse reads, so a command skips re-parsing the YAML.

The key is a SHA-256 over kamrules' version, Python's version, the name and size and modification time of
every module that parses rules (kamrules/errors.py and kamrules/lang/, so an edited checkout is no older
release), the folder as given (it names the files in every position) and each file's name and text. A
changed rule is a changed text, hence another key: nothing read from the cache can be stale. Only rule sets
that loaded without a problem are kept; an invalid folder is parsed, and reported, every time.

``$KAMRULES_CACHE`` is the cache folder (``off`` turns the cache off); the default is
``$XDG_CACHE_HOME/kamrules``, else ``~/.cache/kamrules``. A cache that cannot be read or written is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from kamrules import __version__
from kamrules.errors import InvalidInput
from kamrules.lang.model import RuleSet

ENV_CACHE = "KAMRULES_CACHE"
_SOURCES = [Path(__file__).parent.parent / "errors.py", *sorted(Path(__file__).parent.glob("*.py"))]


def cache_dir() -> Path | None:
    """The cache folder, or None when ``$KAMRULES_CACHE`` is ``off``."""
    given = os.environ.get(ENV_CACHE)
    if given:
        return None if given == "off" else Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kamrules"


def cache_key(directory: str, files: Sequence[tuple[str, str]]) -> str:
    """The key of a rule set parsed from ``files`` (name, text) of ``directory`` by this kamrules."""
    h = hashlib.sha256(f"{__version__}\0{sys.version}\0{directory}\0".encode())
    for src in _SOURCES:
        st = src.stat()
        h.update(f"{src.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    for name, text in files:
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


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
    path = folder / f"{cache_key(directory, files)}.pickle"
    try:
        with open(path, "rb") as f:
            ruleset = pickle.load(f)
        if isinstance(ruleset, RuleSet) and ruleset.files == tuple(files):
            return ruleset
    except Exception:  # a missing, damaged or unreadable entry (any error of pickle) is a miss, parsed again
        pass
    ruleset = parse(dict(files).__getitem__)
    _keep(folder, path, ruleset)
    return ruleset


def _keep(folder: Path, path: Path, ruleset: RuleSet) -> None:
    """Write the entry whole (a temporary file renamed), or not at all when the folder is not writable."""
    import tempfile  # shutil and random, only when a rule set is parsed

    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(ruleset, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
