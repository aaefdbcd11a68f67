"""A batch body read into columns: the accounts' facts as one polars frame, each fact checked as a whole column.

Only a body that is plainly right is taken this way (every value of its type, in range, an allowed
value, a real date; no unknown fact). Anything else is read as before, into a node per JSON value
(kamrules.serve.documents), which names every problem at its place in the body; a body that has none
after all (a numeric account id, say) is then taken from the accounts that reading gives.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from kamrules.engine.columnar import account_frame
from kamrules.engine.columnar_expr import DTYPES
from kamrules.lang import Account, RuleSet
from kamrules.lang.model import Fact
from kamrules.serve import documents

# The Python types JSON gives that a fact type takes as they are (bool is not an int here: type() is exact).
_TYPES: dict[str, frozenset[type]] = {
    "number": frozenset((int, float)),
    "integer": frozenset((int,)),
    "boolean": frozenset((bool,)),
    "string": frozenset((str,)),
    "enum": frozenset((str,)),
    "date": frozenset((str,)),
}
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"


class _Absent:
    """A fact an account does not give (a JSON null is a value, and a problem)."""


_ABSENT = _Absent()


def batch_frame(body: bytes, ruleset: RuleSet, origin: str) -> pl.DataFrame:
    """The accounts of ``{"accounts": [...]}``: columns account, name, origin and one per declared fact.

    InvalidInput with every problem at its place in the body, as the full batch reports them.
    """
    frame = plain_frame(body, ruleset, origin)
    if frame is not None:
        return frame
    return accounts_frame(documents.read_body(body, documents.batch_reader(ruleset, origin)), ruleset)


def accounts_frame(accounts: list[Account], ruleset: RuleSet) -> pl.DataFrame:
    """Checked accounts as the frame ``batch_frame`` gives."""
    return account_frame(ruleset, accounts).select(
        pl.Series("account", [a.id for a in accounts], dtype=pl.String),
        pl.Series("name", [a.name for a in accounts], dtype=pl.String),
        pl.Series("origin", [a.origin for a in accounts], dtype=pl.String),
        *ruleset.facts,
    )


def plain_frame(body: bytes, ruleset: RuleSet, origin: str) -> pl.DataFrame | None:
    """The frame of a body without a problem, or None when it needs the reading that finds problems."""
    try:
        data = documents.plain_json(body)
    except (ValueError, documents.NotPlain):  # invalid JSON (or UTF-8), a duplicate key, NaN
        return None
    if type(data) is not dict or data.keys() != {"accounts"} or type(data["accounts"]) is not list:
        return None
    items: list[Any] = data["accounts"]
    if not items or any(type(i) is not dict or not i.keys() <= documents.ACCOUNT_KEYS for i in items):
        return None
    ids = [i.get("account") for i in items]
    names = [i.get("name") for i in items]
    facts = [i.get("facts") for i in items]
    if any(type(a) is not str or not a.strip() or not a.isprintable() for a in ids):
        return None  # a numeric id keeps its digits as written, and an empty or unprintable one is a problem
    if any(type(n) is not str for i, n in zip(items, names, strict=True) if "name" in i):
        return None
    if any(type(f) is not dict for f in facts):
        return None
    declared = ruleset.facts
    keys = set().union(*facts)
    if any(n not in declared or not declared[n].given for n in keys):
        return None
    given = [n for n in declared if n in keys]
    columns = []
    for name in given:
        column = _column(name, [f.get(name, _ABSENT) for f in facts], declared[name])
        if column is None:
            return None
        columns.append(column)
    n = len(items)
    place = pl.int_range(n, eager=True).cast(pl.String)
    have = pl.DataFrame(
        [
            pl.Series("account", ids, dtype=pl.String),
            pl.Series("name", names, dtype=pl.String),
            (f"{origin} accounts[" + place + "]").alias("origin"),
            *columns,
        ]
    )
    absent = [pl.lit(None, dtype=DTYPES[f.type]).alias(k) for k, f in declared.items() if k not in keys]
    return have.with_columns(absent).select("account", "name", "origin", *declared)


def _column(name: str, values: list[Any], fact: Fact) -> pl.Series | None:
    """One fact's values as its column, or None when one of them is not a valid value of the fact."""
    types = set(map(type, values))
    if _Absent in types:
        types.discard(_Absent)
        values = [None if v is _ABSENT else v for v in values]
    if not types <= _TYPES[fact.type]:
        return None
    dtype = pl.String if fact.type == "date" else DTYPES[fact.type]
    try:
        s = pl.Series(name, values, dtype=dtype, strict=True)
    except (TypeError, OverflowError, pl.exceptions.PolarsError):  # an integer beyond 64 bits
        return None
    known = s.drop_nulls()
    if fact.type == "number" and not bool(known.is_finite().all()):
        return None
    if fact.range is not None and fact.type in ("number", "integer") and not bool(known.is_between(*fact.range).all()):
        return None
    if fact.type == "enum" and not bool(known.is_in(list(fact.values or ())).all()):
        return None
    if fact.type == "date":
        if not bool(known.str.contains(_ISO_DATE).all()):
            return None
        s = s.str.to_date("%Y-%m-%d", strict=False)
        # Not a day of the calendar (null here), or year 0, which Python's dates do not have: a problem.
        if s.null_count() != len(values) - len(known) or not bool(s.drop_nulls().dt.year().ge(1).all()):
            return None
    return s


__all__ = ["accounts_frame", "batch_frame", "plain_frame"]
