"""The only module that touches durable_rules; it keeps the library's sharp edges away from the rest.

How each known sharp edge of durable_rules 2.0.28 is met here (each has a test in tests/test_engine.py):

- ``durable.lang`` keeps a process-wide host whose timer threads poll every ruleset. We never import
  it: we drive the C engine (``durable_rules_engine``) directly, one ruleset handle per Engine, with
  no threads and no Python action callbacks, so no error can be swallowed inside an action.
- ``MessageNotHandledException`` (result code 1) when no rule matches: not an error here, just
  "nothing fired" for that fact.
- ``delete_state`` can crash the process on a state where no rule fired, and a ruleset holds at most
  1,024 live sessions: we never create a session per account. Every fact goes to one session and is
  retracted once its firings are read, so the engine's memory stays flat however many accounts pass.
- A ``$or`` fires the rule once per true branch: firings are collected as a set per fact.
- Facts with identical content, or with a field named ``id``, collide: each asserted fact gets a
  fresh ``id`` of our own, and the schema forbids facts named ``id`` or ``sid``.
- ``date`` values do not serialise: the compiler turns dates into day numbers before they get here.
- No cycle guard in chaining: we do not chain inside the engine. Derived facts are settled layer by
  layer (strata) by kamrules, and the loader rejects cycles among derived facts.
- Its JSON parser reads an exponent only after a decimal point: ``1e-20`` (how Python writes small
  and large floats) is misread and can crash the process. ``dumps`` below writes ``1.0e-20``.
- A comparison with another fact (``$m``) can match when that fact is missing: the compiler adds
  an explicit ``$ex`` for it (tests/test_property.py found this).
- Rulesets live in a process-wide table of the C engine: each Engine gets a unique name and deletes
  its ruleset on close, so two rule sets in one process never see each other's facts.
- More than 64 firings of one fact in one ruleset (error 303), a ``$or`` nested in a ``$or`` or over a
  dozen ``$and`` (error 113), more than 4,096 rules (error 106): the compiler splits every rule into
  pure conjunctions and deals them into rulesets (shards) of one stratum and at most 64 rules each;
  a firing of a term is reported as its rule.
- One session serves every batch: two threads asserting at once would read each other's firings.
  A lock makes the round trip atomic (the C calls hold the GIL anyway, so nothing runs in parallel
  inside the engine; see benchmarks/threads_bench.py).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import durable_rules_engine as _dre

from kamrules.engine.compiler import STRATUM_KEY, rule_of, shards
from kamrules.errors import EngineError
from kamrules.lang.cache import companion
from kamrules.lang.model import RuleSet

_SID = "0"
_INDEX_KEY = "_k"  # position of the fact in the batch, to attribute firings
_NOT_HANDLED = 1
_INDEX_MARK = f'"{_INDEX_KEY}":'
_names = itertools.count(1)
_fact_ids = itertools.count(1)
# The code the compiled shards depend on, beside the rule language's (which the cache entry is kept for).
_COMPILER = [Path(__file__).with_name("compiler.py"), Path(__file__)]


# A number written with an exponent and no decimal point (1e-20), or text that looks like one.
_BARE_EXPONENT = re.compile(r"(?:^|[\[:,])-?\d+e")


def dumps(obj: Any) -> str:
    """JSON that durable_rules' parser reads right: every float keeps a decimal point before its exponent."""
    try:  # json's C encoder, unless a number needs patching (then it is written piece by piece below)
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a non-finite number: the error below names it
        text = None
    return text if text is not None and not _BARE_EXPONENT.search(text) else _dumps(obj)


def _dumps(obj: Any) -> str:
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(_dumps(v) for v in obj) + "]"
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise EngineError(f"non-finite number {obj!r} reached the engine")
        text = repr(obj)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    return json.dumps(obj, ensure_ascii=False)


_TOKEN = "__kamrules_float_%d__"
_TOKEN_RE = re.compile(r'"__kamrules_float_(\d+)__"')


# json.dumps with these options makes an encoder for every call; the facts of every stratum of every account pass here.
_FACTS_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def dumps_facts(batch: list[dict[str, Any]]) -> str:
    """A batch of flat facts as JSON, fast: only floats Python would write with an exponent are patched."""
    fixes: list[str] = []
    for fact in batch:
        for k, v in fact.items():
            # repr() switches to exponent notation below 1e-4 and from 1e16 up
            if type(v) is float and v != 0.0 and not (1e-4 <= abs(v) < 1e16):
                fact[k] = _TOKEN % len(fixes)
                fixes.append(dumps(v))
    try:
        payload = _FACTS_ENCODER.encode(batch)
    except ValueError:
        raise EngineError("a non-finite number reached the engine") from None
    # One pass over the payload, however many floats were patched.
    return _TOKEN_RE.sub(lambda m: fixes[int(m.group(1))], payload) if fixes else payload


def compiled(ruleset: RuleSet) -> list[tuple[int | None, str]]:
    """The rule set's shards as the C engine reads them (stratum, JSON), compiled once and kept (lang/cache.py)."""
    # Compiling the default rules takes about 3 ms, a tenth of a recorded evaluate's own work.
    return companion(ruleset, "durable", _COMPILER, lambda: [(s, dumps(r)) for s, r in shards(ruleset)])


class Engine:
    """A rule set compiled into durable_rules rulesets (shards); fires rules on batches of facts.

    Safe to share across threads: one lock around each round trip (assert, read the firings, retract),
    because every batch passes through the same session of the same C rulesets.
    """

    def __init__(self, ruleset: RuleSet, definition: dict[str, dict[str, Any]] | None = None) -> None:
        self.ruleset = ruleset
        # definition: one ruleset for every stratum, as given (tests of the engine's own failures).
        parts = [(None, dumps(definition))] if definition is not None else compiled(ruleset)
        self._lock = threading.Lock()
        self._handles: list[tuple[int | None, int]] = []
        self._open = True
        try:
            for stratum, text in parts:
                name = f"kamrules-{ruleset.version[:12]}-{next(_names)}"
                self._handles.append((stratum, _dre.create_ruleset(name, text)))
        except _dre.error as e:  # the C engine reports failures with a numeric code
            self.close()
            raise EngineError(f"durable_rules refused the compiled rule set {ruleset.directory}: {e}") from None

    def fire(self, facts: Iterable[Mapping[str, Any]], stratum: int) -> list[set[str]]:
        """The ids of the rules of one stratum that fire on each fact (facts already encoded)."""
        batch = []
        for k, f in enumerate(facts):
            # _k goes first: the engine echoes the fact in key order, so _drain finds it at once.
            fact = {_INDEX_KEY: k, "sid": _SID, "id": f"f{next(_fact_ids)}", STRATUM_KEY: stratum}
            fact.update(f)
            batch.append(fact)
        fired: list[set[str]] = [set() for _ in batch]
        if not batch:
            return fired
        payload = dumps_facts(batch)
        with self._lock:
            if not self._open:
                raise EngineError("engine used after close()")
            for s, handle in self._handles:
                if s is None or s == stratum:
                    self._round_trip(handle, payload, fired)
        return fired

    def _round_trip(self, handle: int, payload: str, fired: list[set[str]]) -> None:
        try:
            code, state = _dre.assert_facts(handle, payload)
            # Result code 1 (not handled) may still leave firings for other facts of the batch.
            if code not in (0, _NOT_HANDLED):
                raise EngineError(f"durable_rules returned code {code} asserting facts")
            _drain(handle, state, fired)
        except EngineError:
            raise
        except _dre.error as e:
            raise EngineError(f"durable_rules failed while evaluating: {e}") from None
        finally:
            try:
                _dre.retract_facts(handle, payload)
            except _dre.error as e:
                raise EngineError(f"durable_rules could not retract facts: {e}") from None

    def live_facts(self) -> list[dict[str, Any]]:
        """Facts the engine still holds (empty between calls: nothing leaks between accounts)."""
        facts: list[dict[str, Any]] = []
        for _, handle in self._handles:
            # get_facts raises when the session was never created (nothing ever fired)
            with contextlib.suppress(_dre.error):
                facts.extend(json.loads(_dre.get_facts(handle, _SID)))
        return facts

    def close(self) -> None:
        """Free the rulesets in the C engine."""
        with self._lock:
            if self._open:
                self._open = False
                for _, handle in self._handles:
                    _dre.delete_ruleset(handle)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drain(handle: int, state: int, fired: list[set[str]]) -> None:
    result = _dre.start_action_for_state(handle, state)
    message = result[1] if result else None
    while message:
        # A message is {"<rule id>":{"m":{...the fact...}}}; decoding the whole fact costs more
        # than every other step, and only the rule id and our batch index are needed.
        rule_id = rule_of(message[2 : message.index('"', 2)])
        start = message.index(_INDEX_MARK) + len(_INDEX_MARK)
        fired[int(message[start : message.index(",", start)])].add(rule_id)
        message = _dre.complete_and_start_action(handle, state)
