"""One logged decision as typed data: the fields of a record, its schema versions, and the one reader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kamrules import __version__
from kamrules.engine import Decision

# Version 1: records written before `schema` and `kind` existed; every one of them is an account decision.
SCHEMA = 2
KINDS = ("account", "portfolio")


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


def decision_record(
    decision: Decision, decision_id: str, recorded_at: str, command: str, kind: str = "account"
) -> Record:
    """Everything needed to understand and replay a decision later (nothing stored twice)."""
    d = decision.to_dict()
    given, derived, firings = d.pop("given"), d.pop("derived"), d.pop("reasons")
    return Record(
        decision_id=decision_id,
        recorded_at=recorded_at,
        command=command,
        account=decision.account,
        origin=decision.origin,
        given=given,
        derived=derived,
        rules_version=decision.rules_version,
        kamrules_version=__version__,
        firings=tuple(firings),
        decision=d,
        kind=_kind(kind),
    )


def read_record(data: Any) -> Record:
    """The typed record of a stored record's JSON data, of any schema version; ValueError if it is not one."""
    if not isinstance(data, dict):
        raise ValueError("it is not a JSON object")
    schema = data.get("schema", 1)
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise ValueError(f"its schema version {schema!r} is not a positive integer")
    if schema > SCHEMA:
        raise ValueError(f"its schema version {schema} is newer than this kamrules reads (1 to {SCHEMA})")
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
