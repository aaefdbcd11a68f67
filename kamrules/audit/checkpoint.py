"""Checkpoints: the head of the log (records and last hash), kept outside it, read back to compare with."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from kamrules.audit.log import head
from kamrules.audit.store import connect
from kamrules.errors import InvalidInput, Span


class Checkpoint(NamedTuple):
    """The head of the log at one moment: how many records and the last one's hash."""

    records: int
    hash: str
    taken_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint file's content (JSON)."""
        return {"format": CHECKPOINT_FORMAT, "records": self.records, "hash": self.hash, "taken_at": self.taken_at}


CHECKPOINT_FORMAT = "kamrules audit checkpoint 1"
_HASH = re.compile(r"[0-9a-f]{64}")


def read_checkpoint(file: Path) -> Checkpoint:
    """A checkpoint file written by `audit checkpoint --output`; exit 3 naming the file if it is not one."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InvalidInput.at(Span(str(file)), f"cannot read the checkpoint: {e}", code="audit") from None
    ok = isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT
    records, h = (data.get("records"), data.get("hash")) if ok else (None, None)
    if not (isinstance(records, int) and not isinstance(records, bool) and records >= 0) or not (
        isinstance(h, str) and _HASH.fullmatch(h)
    ):
        raise InvalidInput.at(
            Span(str(file)),
            "not a kamrules audit checkpoint",
            expected=f'JSON with "format": "{CHECKPOINT_FORMAT}", "records" (a count) and "hash" (64 hex digits)',
            found=_found(data),
            help="write one with 'kamrules audit checkpoint --output FILE'",
            code="audit",
        )
    return Checkpoint(records, h, str(data.get("taken_at", "")))


def _found(data: Any) -> str:
    if not isinstance(data, dict):
        return type(data).__name__
    return ", ".join(f"{k}: {str(data.get(k))[:70]}" for k in ("format", "records", "hash"))


def checkpoint(path: Path) -> Checkpoint:
    """The head of the log now: keep it outside the log to detect truncation and rewriting later."""
    with connect(path) as conn:
        records, h = head(conn)
    return Checkpoint(records, h, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
