"""What the decision service (`kamrules serve`) says: its JSON documents, its errors and its log lines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from kamrules.engine.evaluate import conflict_order
from kamrules.engine.explain import Explanation
from kamrules.errors import InvalidInput, Problem, Span
from kamrules.lang.model import RuleSet
from kamrules.render.decision import Evaluated, evaluated_dicts, json_default
from kamrules.render.rules import rules_rows
from kamrules.render.selection import note_text

if TYPE_CHECKING:
    import polars as pl

MEDIA_TYPE = "application/json"
VERSION_HEADER = "kamrules-rules-version"


def compact(data: Any) -> str:
    """JSON without indentation, for documents of many decisions."""
    try:
        # orjson writes a decision's document in a fifth of json's time. It would write NaN as null, but
        # no document has one (facts and computed facts are finite); an integer beyond 64 bits or a lone
        # surrogate it cannot write at all, and json does.
        return orjson.dumps(data, default=json_default).decode()
    except orjson.JSONEncodeError:
        # Escaped to ASCII: a lone surrogate (a "\ud800" in the request, quoted back in a problem) is no UTF-8.
        return json.dumps(data, separators=(",", ":"), default=json_default)


def decision_document(e: Evaluated) -> dict[str, Any]:
    """One decision, as `evaluate --format json` gives it."""
    (data,) = evaluated_dicts(e)
    return data


def batch_document(e: Evaluated) -> dict[str, Any]:
    """A batch's decisions, each as `evaluate --format json` gives one, under the version they were made with."""
    return {"rules_version": e.ruleset.version, "count": len(e.decisions), "decisions": evaluated_dicts(e)}


def compact_batch(frame: pl.DataFrame, ids: Sequence[str], notes: Sequence[Sequence[str]], ruleset: RuleSet) -> str:
    """A batch's compact answer: each decision without its per-condition reasons (kam/scale.py's frame).

    ``frame``: decision_frame's columns with `derived_by`; each account's account, name, decision id,
    key account, stage, structure, actions (id and the rules that took them), derived facts with the rule
    that set each, fired rules and notes, as the full document says them. `audit show` gives the rest.
    """
    takers: dict[str, list[str]] = {}  # action id → the rules that take it, in conflict order
    for r in sorted(ruleset.rules, key=conflict_order):
        for a in r.actions:
            takers.setdefault(a.id, []).append(r.id)
    c = {k: frame[k].to_list() for k in _FRAME_KEYS}
    # Each derived fact's values and rules as flat lists: a struct column's rows as dicts take ten times longer.
    names = [n for n, f in ruleset.facts.items() if f.derived]
    values = {n: frame["derived"].struct.field(n).to_list() for n in names}
    by = {n: frame["derived_by"].struct.field(n).to_list() for n in names}
    key = values.get("key_account", [None] * frame.height)
    # The parts that accounts of a batch share (a stage move, the actions of the same firings, notes) are made
    # once and written for each: orjson writes a shared object as often as it appears.
    stages: dict[tuple[Any, ...], dict[str, Any]] = {}
    taken: dict[tuple[tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
    said: dict[tuple[str, ...], list[str]] = {}
    out = []
    for i, fired in enumerate(c["fired"]):
        move = (c["stage_current"][i], c["stage_recommended"][i], c["move"][i], c["stage_rule"][i])
        stage = stages.get(move)
        if stage is None:
            stage = stages[move] = dict(zip(("current", "recommended", "move", "rule"), move, strict=True))
        these = (tuple(c["actions"][i]), tuple(fired))
        actions = taken.get(these)
        if actions is None:
            done = set(fired)
            actions = taken[these] = [{"id": a, "rules": [r for r in takers[a] if r in done]} for a in these[0]]
        codes = tuple(notes[i])
        texts = said.get(codes)
        if texts is None:
            texts = said[codes] = [note_text(n) for n in codes]
        out.append(
            {
                "account": c["account"][i],
                "name": c["name"][i],
                "decision_id": ids[i],
                "key_account": key[i],
                "stage": stage,
                "structure": {"recommended": c["structure"][i], "rule": c["structure_rule"][i]}
                if c["structure"][i]
                else None,
                "actions": actions,
                "derived": {n: {"value": values[n][i], "rule": by[n][i]} for n in names if by[n][i] is not None},
                "fired": fired,
                "notes": texts,
            }
        )
    return compact({"rules_version": ruleset.version, "count": len(out), "detail": "compact", "decisions": out})


_FRAME_KEYS: tuple[str, ...] = ("account", "name", "stage_current", "stage_recommended", "move", "stage_rule")
_FRAME_KEYS += ("structure", "structure_rule", "actions", "fired")


def explained(explanation: Explanation, decision_id: str) -> str:
    """An explanation as `kamrules explain --format json` gives it, with the id of the decision it explains."""
    return compact(explanation.to_dict() | {"decision_id": decision_id})


def rules_document(ruleset: RuleSet, directory: str) -> dict[str, Any]:
    """GET /v1/rules: the version, where the rules come from, and every rule as `rules list --format json` has it."""
    counts = {"rules": len(ruleset.rules), "facts": len(ruleset.facts), "strata": ruleset.strata}
    return {"rules_version": ruleset.version, "directory": directory, "counts": counts, "rules": rules_rows(ruleset)}


def reloaded_document(previous: str, current: str) -> dict[str, Any]:
    """The answer to a reload that was accepted."""
    return {"reloaded": True, "changed": previous != current, "previous_version": previous, "rules_version": current}


def problems_document(err: InvalidInput, version: str) -> dict[str, Any]:
    """Invalid input: the problems list of `--format json` (code, message, expected, found, where)."""
    return err.to_dict() | {"rules_version": version}


def refused_reload_document(err: InvalidInput, version: str) -> dict[str, Any]:
    """A reload refused: the folder's problems, and the version that keeps serving."""
    return problems_document(err, version) | {"reloaded": False}


def error_document(error: str, message: str, version: str, **extra: Any) -> dict[str, Any]:
    """Any other error: a name, a sentence and the version being served."""
    return {"error": error, "message": message, "rules_version": version} | extra


def too_large(limit: int, version: str) -> dict[str, Any]:
    """A body over the limit (413)."""
    return error_document(
        "TooLarge", f"the request body is larger than the limit of {limit:,} bytes", version, limit=limit
    )


def unauthorized(version: str) -> dict[str, Any]:
    """A request without the service's token (401)."""
    return error_document(
        "Unauthorized",
        "this service needs 'Authorization: Bearer <token>' (the KAMRULES_TOKEN it was started with)",
        version,
    )


def internal(error_id: str, version: str) -> dict[str, Any]:
    """An internal error (500): no detail, only the id to find it in the server's log."""
    return error_document(
        "InternalError",
        f"internal error {error_id}: a bug in kamrules; the server's log has the details under this id",
        version,
        id=error_id,
    )


def not_recorded(error_id: str, version: str) -> dict[str, Any]:
    """The decision log cannot be written (503): the decision is not given, since it would not be on record."""
    return error_document(
        "NotRecorded",
        f"the decision log cannot be written, so no decision is given (error {error_id} in the server's log)",
        version,
        id=error_id,
    )


def parameter_problem(where: str, message: str, found: Any) -> Problem:
    """A query or path parameter the service cannot take, said as a problem of the input."""
    return Problem(Span(where), message, found=None if found is None else str(found), code="bad-parameter")


def internal_log_line(error_id: str, method: str, path: str) -> str:
    """The server log's line for an error of the service (a bug, the log unwritable), before its traceback."""
    return f"error {error_id} on {method} {path}"


def reload_log_line(previous: str, current: str) -> str:
    """The server log's line for an accepted reload."""
    if previous == current:
        return f"rules reloaded: unchanged, version {current[:12]}"
    return f"rules reloaded: version {previous[:12]} -> {current[:12]}"


def followed_log_line(previous: str, current: str) -> str:
    """The server log's line when a process follows a reload made by another process of the service."""
    return f"rules reloaded after another process of this service did: version {previous[:12]} -> {current[:12]}"


def refused_log_lines(err: InvalidInput, version: str) -> list[str]:
    """The server log's lines for a refused reload: every problem, and the version that keeps serving."""
    return [f"rules reload refused ({err.summary()}); still serving version {version[:12]}"] + [
        p.headline() for p in err.problems
    ]


def started_text(directory: str, version: str, log: str, url: str, token: bool) -> str:
    """The lines `kamrules serve` prints before it starts listening."""
    lines = [
        f"kamrules serve: rules {directory} version {version[:12]}; decisions recorded in {log}",
        f"  API at {url}/v1/... ; OpenAPI at {url}/docs and {url}/openapi.json",
        "  bearer token required on every endpoint but /healthz and /readyz (KAMRULES_TOKEN)"
        if token
        else "  no token: anyone who can reach this address can use the service (set KAMRULES_TOKEN to require one)",
        "  reload the rules with POST /v1/rules/reload or SIGHUP",
    ]
    return "\n".join(lines) + "\n"
