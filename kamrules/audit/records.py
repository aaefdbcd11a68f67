"""One logged decision as typed data: the fields of a record, its schema versions, the compact form, the one reader."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from kamrules.audit.chain import canonical, sha256
from kamrules.engine import Decision
from kamrules.lang.values import jsonable

# Version 1: records written before `schema` and `kind` existed; every one of them is an account decision.
# Version 2: one row per decision with its full trace (about 6 KB).
# Version 3: compact decisions (facts, outcome, fired rules) in compressed blocks; the trace is recomputed on demand.
# Version 4: the same compact decisions, a block written from a whole frame of them as Parquet (audit/frames.py).
SCHEMA = 4
BLOCK_SCHEMAS = (3, 4)
KINDS = ("account", "portfolio")
# On a block of 2,000 decisions level 6 is 2% larger than level 9 in less than half the time.
_ZLIB_LEVEL = 6


@dataclass(frozen=True)
class Record:
    """A logged decision: the given and derived facts, every firing, the result, and who recorded it when."""

    decision_id: str
    recorded_at: str
    command: str
    account: str
    origin: str
    given: dict[str, Any]
    derived: dict[str, Any]
    rules_version: str
    kamrules_version: str
    firings: tuple[dict[str, Any], ...]
    decision: dict[str, Any]  # Decision.to_dict() without given, derived and reasons (stored beside it)
    kind: str = "account"
    schema: int = SCHEMA

    @property
    def name(self) -> str | None:
        """The account's name, when it has one."""
        return self.decision.get("name")

    @property
    def fired(self) -> list[str]:
        """Ids of the rules that fired, in evaluation order."""
        return list(self.decision.get("fired", []))

    def decision_dict(self) -> dict[str, Any]:
        """The decision as ``Decision.to_dict()`` gave it when it was recorded."""
        return {**self.decision, "given": self.given, "derived": self.derived, "reasons": list(self.firings)}

    def to_dict(self) -> dict[str, Any]:
        """The record as stored (JSON-ready), keys in the stored order so `audit show` prints it as kept."""
        data = {
            "decision_id": self.decision_id,
            "recorded_at": self.recorded_at,
            "command": self.command,
            "account": self.account,
            "origin": self.origin,
            "given": self.given,
            "derived": self.derived,
            "rules_version": self.rules_version,
            "kamrules_version": self.kamrules_version,
            "firings": list(self.firings),
            "decision": self.decision,
            "kind": self.kind,
            "schema": self.schema,
        }
        return dict(sorted(data.items()))


def compact(decision: Decision) -> dict[str, Any]:
    """What proves and replays a decision: its given facts, its outcome and the rules that fired, nothing derivable."""
    data: dict[str, Any] = {
        "account": decision.account,
        "given": {k: v if isinstance(v, (str, int, float)) else jsonable(v) for k, v in decision.given.items()},
        "derived": {k: jsonable(v) for k, v in decision.derived.items()},
        "stage": {
            "current": decision.stage_current,
            "recommended": decision.stage_recommended,
            "move": decision.move,
            "rule": decision.stage_rule,
        },
        "actions": [a["id"] for a in decision.actions],
        "fired": decision.fired,
    }
    # Left out when empty, so the common record stays short.
    optional = {
        "name": decision.name,
        "origin": decision.origin,
        "structure": {"recommended": decision.structure, "rule": decision.structure_rule}
        if decision.structure
        else None,
        "as_of": decision.as_of.isoformat() if decision.as_of else None,
    }
    return data | {k: v for k, v in optional.items() if v}


def pack(records: list[dict[str, Any]]) -> tuple[bytes, str]:
    """Compact decisions as one compressed block and the SHA-256 of its canonical text.

    The given facts are stored by column: the values of a fact compress better side by side than each
    account's facts in a row (about 125 instead of 200 bytes per decision).
    """
    names = sorted({name for r in records for name in r["given"]})
    facts = {n: [r["given"][n] for r in records if n in r["given"]] for n in names}
    present = {n: [i for i, r in enumerate(records) if n in r["given"]] for n in names if len(facts[n]) != len(records)}
    rows = [{k: v for k, v in r.items() if k != "given"} for r in records]
    text = canonical({"rows": rows, "facts": facts, "present": present}).encode("utf-8")
    return zlib.compress(text, _ZLIB_LEVEL), sha256(text)


def unpack(data: bytes) -> tuple[list[dict[str, Any]], str]:
    """The compact decisions of a block and the SHA-256 of its text; ValueError if the data is damaged."""
    try:
        text = zlib.decompress(data)
        payload = json.loads(text.decode("utf-8"))
        rows, facts, present = payload["rows"], payload["facts"], payload["present"]
        given: list[dict[str, Any]] = [{} for _ in rows]
        for name, values in facts.items():
            for i, value in zip(present.get(name, range(len(rows))), values, strict=True):
                given[i][name] = value
        return [row | {"given": g} for row, g in zip(rows, given, strict=True)], sha256(text)
    except (zlib.error, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise ValueError(f"its data cannot be unpacked ({type(e).__name__}: {e})") from None


def compact_record(data: dict[str, Any], decision_id: str, header: dict[str, Any]) -> Record:
    """The typed record of a compact decision and its block's header (no firings: they are recomputed on demand)."""
    try:
        decision = {
            "name": data.get("name"),
            "key_account": data["derived"].get("key_account"),
            "stage": data["stage"],
            "structure": data.get("structure"),
            "actions": [{"id": a} for a in data["actions"]],
            "fired": data["fired"],
            "rules_version": header["rules_version"],
        } | ({"as_of": data["as_of"]} if "as_of" in data else {})
        return Record(
            decision_id=decision_id,
            recorded_at=header["recorded_at"],
            command=header["command"],
            account=data["account"],
            origin=data.get("origin", ""),
            given=data["given"],
            derived={k: {"value": v, "rule": None} for k, v in data["derived"].items()},
            rules_version=header["rules_version"],
            kamrules_version=header["kamrules_version"],
            firings=(),
            decision=decision,
            kind=_kind(header["kind"]),
            schema=header["schema"],
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"its compact record is incomplete ({type(e).__name__}: {e})") from None


def read_record(data: Any) -> Record:
    """The typed record of a stored record's JSON data, of any schema version; ValueError if it is not one."""
    if not isinstance(data, dict):
        raise ValueError("it is not a JSON object")
    schema = data.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise ValueError(f"its schema version {schema!r} is not a positive integer")
    if schema > SCHEMA:
        raise ValueError(f"its schema version {schema} is newer than this kamrules reads (1 to {SCHEMA})")
    if schema in BLOCK_SCHEMAS:
        raise ValueError(f"a schema {schema} decision is stored in a block, not in a row of its own")
    try:
        return Record(
            decision_id=data["decision_id"],
            recorded_at=data["recorded_at"],
            command=data["command"],
            account=data["account"],
            origin=data["origin"],
            given=data["given"],
            derived=data["derived"],
            rules_version=data["rules_version"],
            kamrules_version=data["kamrules_version"],
            firings=tuple(data["firings"]),
            decision=data["decision"],
            kind=_kind(data["kind"]) if schema >= 2 else "account",
            schema=schema,
        )
    except KeyError as e:
        raise ValueError(f"it has no '{e.args[0]}' field") from None


def _kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"its kind {kind!r} is not one of {', '.join(KINDS)}")
    return str(kind)
