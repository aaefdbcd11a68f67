"""The ABC analysis of one numeric column of an account table, as `kamrules abc` runs it."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.inputs import AccountRow, parse_column_mapping, read_account_table
from kamrules.kam.abc import AbcRow, abc_classes
from kamrules.kam.computed_abc import ComputedAbc, computed_abc
from kamrules.kam.settings import Settings

__all__ = ["abc_rows"]


def abc_rows(
    path: str,
    metric: str,
    method: str,
    settings: Settings,
    columns: str | None = None,
    rows: Sequence[AccountRow] | None = None,
) -> tuple[Sequence[AbcRow], ComputedAbc | None]:
    """The ABC analysis of one numeric column of an account table (or of ``rows`` already read from ``path``).

    A row without a number is an error.
    """
    if rows is None:
        rows = read_account_table(path, parse_column_mapping(columns) if columns else None)
    if not any(metric in r.facts for r in rows):
        raise InvalidInput.at(
            rows[0].span if rows else Span(path),
            f"no column '{metric}' in the table",
            expected=f"a column named '{metric}' (or --columns {metric}=<column>)",
            found="columns " + ", ".join(sorted({k for r in rows for k in r.facts})),
            code="missing-column",
        )
    problems: list[Problem] = []
    values: dict[str, Decimal] = {}
    for r in rows:
        v = r.facts.get(metric)
        if isinstance(v, bool) or not isinstance(v, (Decimal, int)):
            problems.append(
                Problem(
                    r.span,
                    f"account '{r.account}' has no number for '{metric}'",
                    expected=f"a number in column '{metric}'",
                    found="an empty cell" if v is None else repr(v),
                    code="abc-value",
                )
            )
        else:
            values[r.account] = Decimal(v)
    if problems:
        raise InvalidInput(problems)
    if method == "computed":
        c = computed_abc(values, path)
        return c.rows, c
    return abc_classes(values, settings.a_cut, settings.b_cut), None
