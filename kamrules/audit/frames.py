"""The compact decision frame (one row per account decision, by column) and the log's blocks written from it."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl

from kamrules.engine import Decision
from kamrules.engine.columnar_expr import DTYPES  # a fact type as a column: the same types the plan compares
from kamrules.lang import RuleSet

_TEXT = ("stage_current", "stage_recommended", "move", "stage_rule", "structure", "structure_rule")
# Decisions per block when a whole frame is recorded: large enough that a block's Parquet metadata is noise
# (under 0.1 byte per decision), small enough that `audit show` decodes one block in a few milliseconds.
FRAME_BLOCK = 100_000
# zstd level 3 (the library's default): level 9 saves 4% more on a review's decisions at twice the time.
_ZSTD_LEVEL = 3


def _struct(facts: Sequence[Any]) -> pl.Struct:
    return pl.Struct([pl.Field(f.name, DTYPES[f.type]) for f in facts])


def frame_schema(ruleset: RuleSet) -> pl.Schema:
    """The columns of a rule set's compact decision frame, in the contract's order."""
    facts = list(ruleset.facts.values())
    return frame_schema_of([f for f in facts if f.given], [f for f in facts if f.derived])


def compact_frame(decisions: Sequence[Decision], ruleset: RuleSet) -> pl.DataFrame:
    """The reference converter: decisions as the compact frame, holding exactly what records.compact holds."""
    schema = frame_schema(ruleset)
    given, derived = (set(schema[c].to_schema()) for c in ("given", "derived"))  # type: ignore[attr-defined]
    for d in decisions:
        unknown = sorted(set(d.given) - given) + sorted(set(d.derived) - derived)
        if unknown:
            raise ValueError(f"decision {d.account} has facts its rule set does not declare: {', '.join(unknown)}")
    columns: dict[str, list[Any]] = {
        "account": [d.account for d in decisions],
        "name": [d.name for d in decisions],
        "origin": [d.origin for d in decisions],
        "given": [{k: _value(v) for k, v in d.given.items()} for d in decisions],
        "derived": [{k: _value(v) for k, v in d.derived.items()} for d in decisions],
        "stage_current": [d.stage_current for d in decisions],
        "stage_recommended": [d.stage_recommended for d in decisions],
        "move": [d.move for d in decisions],
        "stage_rule": [d.stage_rule for d in decisions],
        "structure": [d.structure for d in decisions],
        "structure_rule": [d.structure_rule for d in decisions],
        "actions": [[a["id"] for a in d.actions] for d in decisions],
        "fired": [d.fired for d in decisions],
        "as_of": [d.as_of for d in decisions],
    }
    return pl.DataFrame(columns, schema=schema)


def _value(v: Any) -> Any:
    # A list value is a tuple in a decision; polars takes lists. (An int of a number fact, as YAML gives it,
    # becomes a Float64: the same number, which replay compares equal.)
    return list(v) if isinstance(v, tuple) else v


# What every decision has: a frame with an empty cell here is not one the log can replay.
_REQUIRED = ("account", "origin", "move", "actions", "fired")


def frame_problem(frame: pl.DataFrame, ruleset: RuleSet) -> str | None:
    """What keeps a frame from being a rule set's compact decision frame (columns, types, empty cells), or None."""
    expected = frame_schema(ruleset)
    if frame.schema != expected:
        for name, dtype in expected.items():
            if name not in frame.schema:
                return f"it has no column '{name}'"
            if frame.schema[name] != dtype:
                return f"its column '{name}' is {frame.schema[name]}, expected {dtype}"
        return f"its columns are {', '.join(frame.schema)}, expected {', '.join(expected)}"
    return _nulls_problem(frame)


def _nulls_problem(frame: pl.DataFrame) -> str | None:
    counts = frame.select(pl.col(_REQUIRED).null_count()).row(0)
    nulls = [c for c, n in zip(_REQUIRED, counts, strict=True) if n]
    return f"its column '{nulls[0]}' has empty cells" if nulls else None


def _shape() -> dict[str, pl.DataType | None]:
    """The contract's columns and their types, the fact structs left open (None): what any rule set's frame has."""
    return {n: None if n in ("given", "derived") else t for n, t in frame_schema_of([], []).items()}


def frame_schema_of(given: Sequence[Any], derived: Sequence[Any]) -> pl.Schema:
    """The frame's columns for these given and derived facts."""
    return pl.Schema(
        {
            "account": pl.String(),
            "name": pl.String(),
            "origin": pl.String(),
            "given": _struct(given),
            "derived": _struct(derived),
            **{c: pl.String() for c in _TEXT},
            "actions": pl.List(pl.String()),
            "fired": pl.List(pl.String()),
            "as_of": pl.Date(),
        }
    )


def _shape_problem(frame: pl.DataFrame) -> str | None:
    shape = _shape()
    if list(frame.schema) != list(shape):
        return f"its columns are {', '.join(frame.schema)}, expected {', '.join(shape)}"
    for name, dtype in frame.schema.items():
        if shape[name] is None:
            fields = dtype.to_schema() if isinstance(dtype, pl.Struct) else None
            if fields is None or not all(t in DTYPES.values() for t in fields.values()):
                return f"its column '{name}' is {dtype}, expected a struct of fact values"
        elif dtype != shape[name]:
            return f"its column '{name}' is {dtype}, expected {shape[name]}"
    return None


def decision_ids(run: str, first: int, count: int) -> pl.Series:
    """The ids of a run's decisions first+1 .. first+count, RUN-N, built as one column."""
    ids: pl.Series = run + "-" + pl.int_range(first + 1, first + count + 1, eager=True).cast(pl.String)
    return ids.alias("decision_id")


def encode(frame: pl.DataFrame) -> bytes:
    """One block's decisions as Parquet (zstd): by column, so each fact's values compress side by side."""
    out = io.BytesIO()
    # Parquet has no struct without fields (a rule set that derives nothing): such a column is left out.
    frame = frame.drop([c for c in ("given", "derived") if not frame.schema[c].to_schema()])  # type: ignore[attr-defined]
    frame.write_parquet(out, compression="zstd", compression_level=_ZSTD_LEVEL, statistics=False)
    return out.getvalue()


def decode(data: bytes) -> pl.DataFrame:
    """A block's decisions back as a frame; ValueError if the data is not a Parquet frame of decisions."""
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as e:  # polars raises its own error types, and OSError-like ones for damaged data
        raise ValueError(f"its data cannot be decoded ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    empty = [pl.Series(c, [{}] * frame.height, pl.Struct([])) for c in ("given", "derived") if c not in frame.schema]
    if empty and set(frame.schema) == set(_shape()) - {s.name for s in empty}:
        frame = frame.with_columns(empty).select(list(_shape()))
    problem = _shape_problem(frame) or _nulls_problem(frame)
    if problem:
        raise ValueError(problem)
    return frame


def _matching(frame: pl.DataFrame, account: str | None, rule: str | None) -> pl.DataFrame:
    if account is not None:
        frame = frame.filter(pl.col("account") == account)
    if rule is not None:
        frame = frame.filter(pl.col("fired").list.contains(rule))
    return frame


def block_count(data: bytes, account: str | None = None, rule: str | None = None) -> int:
    """How many decisions of a Parquet block are an account's or fired a rule, counted by column."""
    return _matching(decode(data), account, rule).height


def block_records(
    data: bytes, first: int, account: str | None = None, rule: str | None = None, index: int | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The compact decisions of a Parquet block with their place in the run, filtered before any becomes a dict.

    Made into dicts a thousand at a time, so the first decisions of a block are listed without the rest.
    """
    frame = _matching(decode(data).with_row_index("index", offset=first + 1), account, rule)
    if index is not None:
        frame = frame.filter(pl.col("index") == index)
    for part in frame.iter_slices(1000):
        yield from zip(part["index"].to_list(), frame_records(part.drop("index")), strict=True)


def frame_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The compact decisions of a frame, each as records.compact gives it after a JSON round trip."""
    columns = {c: frame[c].to_list() for c in frame.columns}
    out = []
    for i in range(frame.height):
        row = {c: v[i] for c, v in columns.items()}
        data: dict[str, Any] = {
            "account": row["account"],
            "given": _facts(row["given"]),
            "derived": _facts(row["derived"]),
            "stage": {
                "current": row["stage_current"],
                "recommended": row["stage_recommended"],
                "move": row["move"],
                "rule": row["stage_rule"],
            },
            "actions": row["actions"],
            "fired": row["fired"],
        }
        optional = {
            "name": row["name"],
            "origin": row["origin"],
            "structure": {"recommended": row["structure"], "rule": row["structure_rule"]} if row["structure"] else None,
            "as_of": row["as_of"].isoformat() if row["as_of"] else None,
        }
        out.append(data | {k: v for k, v in optional.items() if v})
    return out


def _facts(values: dict[str, Any] | None) -> dict[str, Any]:
    # Sorted, as a block of canonical JSON gives them back; a date as its ISO text, as JSON holds it.
    present = sorted((k, v) for k, v in (values or {}).items() if v is not None)
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in present}
