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
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import durable_rules_engine as _dre

from kamrules.engine.compiler import STRATUM_KEY, compile_ruleset
from kamrules.errors import EngineError
from kamrules.lang.model import RuleSet

_SID = "0"
_INDEX_KEY = "_k"  # position of the fact in the batch, to attribute firings
_NOT_HANDLED = 1
_INDEX_MARK = f'"{_INDEX_KEY}":'
_names = itertools.count(1)
_fact_ids = itertools.count(1)


def dumps(obj: Any) -> str:
    """JSON that durable_rules' parser reads right: every float keeps a decimal point before its exponent."""
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise EngineError(f"non-finite number {obj!r} reached the engine")
        text = repr(obj)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    return json.dumps(obj, ensure_ascii=False)


_TOKEN = "__kamrules_float_%d__"
_TOKEN_RE = re.compile(r'"__kamrules_float_(\d+)__"')


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
        payload = json.dumps(batch, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise EngineError("a non-finite number reached the engine") from None
    # One pass over the payload, however many floats were patched.
    return _TOKEN_RE.sub(lambda m: fixes[int(m.group(1))], payload) if fixes else payload


class Engine:
    """A rule set compiled into a durable_rules ruleset; fires rules on batches of facts."""

    def __init__(self, ruleset: RuleSet, definition: dict[str, dict[str, Any]] | None = None) -> None:
        self.ruleset = ruleset
        self.definition = definition if definition is not None else compile_ruleset(ruleset)
        self.name = f"kamrules-{ruleset.version[:12]}-{next(_names)}"
        try:
            self._handle = _dre.create_ruleset(self.name, dumps(self.definition))
        except _dre.error as e:  # the C engine reports failures with a numeric code
            raise EngineError(f"durable_rules refused the compiled rule set {ruleset.directory}: {e}") from None
        self._open = True

    def fire(self, facts: Iterable[Mapping[str, Any]], stratum: int) -> list[set[str]]:
        """The ids of the rules of one stratum that fire on each fact (facts already encoded)."""
        if not self._open:
            raise EngineError("engine used after close()")
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
        try:
            code, state = _dre.assert_facts(self._handle, payload)
            # Result code 1 (not handled) may still leave firings for other facts of the batch.
            if code not in (0, _NOT_HANDLED):
                raise EngineError(f"durable_rules returned code {code} asserting facts")
            self._drain(state, fired)
        except EngineError:
            raise
        except _dre.error as e:
            raise EngineError(f"durable_rules failed while evaluating: {e}") from None
        finally:
            self._retract(payload)
        return fired

    def _drain(self, state: int, fired: list[set[str]]) -> None:
        result = _dre.start_action_for_state(self._handle, state)
        message = result[1] if result else None
        while message:
            # A message is {"<rule id>":{"m":{...the fact...}}}; decoding the whole fact costs more
            # than every other step, and only the rule id and our batch index are needed.
            rule_id = message[2 : message.index('"', 2)]
            start = message.index(_INDEX_MARK) + len(_INDEX_MARK)
            fired[int(message[start : message.index(",", start)])].add(rule_id)
            message = _dre.complete_and_start_action(self._handle, state)

    def _retract(self, payload: str) -> None:
        try:
            _dre.retract_facts(self._handle, payload)
        except _dre.error as e:
            raise EngineError(f"durable_rules could not retract facts: {e}") from None

    def live_facts(self) -> list[dict[str, Any]]:
        """Facts the engine still holds (empty between calls: nothing leaks between accounts)."""
        try:
            facts: list[dict[str, Any]] = json.loads(_dre.get_facts(self._handle, _SID))
            return facts
        except _dre.error:
            # get_facts raises when the session was never created (nothing ever fired)
            return []

    def close(self) -> None:
        """Free the ruleset in the C engine."""
        if self._open:
            self._open = False
            _dre.delete_ruleset(self._handle)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
