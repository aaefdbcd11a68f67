"""Account tables: any table file (CSV, JSON, YAML, XLSX) → one AccountRow per account (rules in kamrules.inputs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kamrules.errors import InvalidInput, Problem, Span
from kamrules.inputs.cells import Value, account_id, decide_decimal, fact_value
from kamrules.inputs.records import Record, Table, all_strings, empty_file, missing_column, no_rows
from kamrules.inputs.textfiles import read_csv, read_json, read_yaml_table
from kamrules.lang import account_id_problem

__all__ = ["NOT_FACTS", "AccountRow", "read_account_table", "read_table"]


# Columns of an account table that describe the account but are not facts the rules read.
NOT_FACTS = ("name", "previous_key_account")


@dataclass(frozen=True)
class AccountRow:
    """One account and its facts, with where it came from."""

    account: str
    facts: Mapping[str, Value]
    span: Span
    # fact → column number, shared by every row of a CSV or XLSX table, so a bad value can be
    # pointed at its cell without keeping a position per cell
    columns: Mapping[str, int] | None = None
    # facts kamrules computed (checked as observations, never against a range) and note codes
    observed: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()

    def cell_span(self, fact: str) -> Span:
        """Where this row's value of ``fact`` stands (its cell when known, else the row)."""
        if self.columns and fact in self.columns:
            return Span(self.span.file, self.span.line, self.columns[fact], cell=True)
        return self.span


def read_table(path: str | Path) -> Table:
    """The records of a table file, read by its extension."""
    name = str(path)
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from kamrules.inputs.xlsx import read_xlsx  # zipfile and XML only for a workbook

        return read_xlsx(name)
    if suffix == ".json":
        return read_json(name)
    if suffix in (".yaml", ".yml"):
        return read_yaml_table(name)
    if suffix in (".csv", ".txt", ".tsv"):
        return read_csv(name)
    raise InvalidInput.at(
        Span(name),
        "unknown table format",
        expected=".csv, .json, .yaml, .yml or .xlsx",
        found=f"'{suffix or 'no extension'}'",
        code="table-format",
    )


def read_account_table(
    path: str | Path, columns: Mapping[str, str] | None = None, decimal: str | None = None
) -> list[AccountRow]:
    """One AccountRow per row of an account table; ``columns`` maps fact names to file columns."""
    if Path(str(path)).suffix.lower() in (".csv", ".txt", ".tsv"):
        # Read column by column (kamrules.inputs.frames imports this module, hence the late import).
        from kamrules.inputs.frames import read_account_frame

        return read_account_frame(path, columns, decimal).rows()
    return rows_of_table(read_table(path), columns, decimal)


def rows_of_table(
    table: Table, columns: Mapping[str, str] | None = None, decimal: str | None = None
) -> list[AccountRow]:
    """One AccountRow per record of a table read row by row (JSON, YAML, XLSX; CSV in the columnar reader's tests)."""
    mapping = dict(columns or {})
    rename = {v: k for k, v in mapping.items()}
    _not_invoice_lines(table, rename)
    account_col = mapping.get("account", "account")
    fact_cols, problems = _fact_columns(table, mapping, account_col)
    dec, p = decide_decimal(table.file, all_strings(table, fact_cols), decimal)
    if p:  # every number in the file would be read wrongly; cell-by-cell errors would only add noise
        raise InvalidInput(problems + p)
    rows: list[AccountRow] = []
    first_seen: dict[str, Span] = {}
    header_cols = {rename.get(c, c): sp.col for c, sp in table.header_spans.items() if c in fact_cols and sp.col}
    for rec in table.records:
        account = _new_account(rec, account_col, first_seen, problems)
        if account is None:
            continue
        facts: dict[str, Value] = {}
        for col in fact_cols:
            if col not in rec.cells:
                continue
            value = fact_value(rec.cells[col], dec, problems)
            if value is not None:
                facts[rename.get(col, col)] = value
        rows.append(AccountRow(account, facts, rec.span, header_cols if table.grid else None))
    if problems:
        raise InvalidInput(problems)
    return rows


def _not_invoice_lines(table: Table, rename: Mapping[str, str]) -> None:
    """One error with the hint, not an error per row, when an account table is given invoice lines."""
    roles = {rename.get(c, c) for c in table.columns}
    if {"date", "amount"} <= roles and "revenue" not in roles:
        raise InvalidInput.at(
            Span(table.file, 1, 1),
            "this file holds invoice lines (a date and an amount per line), not one row per account",
            expected="an account table, or invoice lines with --transactions",
            found="columns " + ", ".join(table.columns),
            code="invoice-lines",
            help="add --transactions (portfolio, abc); --period chooses the period, by default the latest "
            "complete quarter",
        )


def _fact_columns(table: Table, mapping: Mapping[str, str], account_col: str) -> tuple[list[str], list[Problem]]:
    """The fact columns, and the problems of mapped columns the file lacks; no account column or no rows raise."""
    if account_col not in table.columns:
        if not table.records:
            raise empty_file(table.file, "a header row and one row per account")
        raise InvalidInput([missing_column(table, "account", account_col)])
    if not table.records:
        raise InvalidInput([no_rows(table, "one row per account")])
    fact_cols = [c for c in table.columns if c != account_col]
    problems = [
        missing_column(table, fact, col)
        for fact, col in mapping.items()
        if fact != "account" and col not in table.columns
    ]
    return fact_cols, problems


def _new_account(rec: Record, account_col: str, first_seen: dict[str, Span], problems: list[Problem]) -> str | None:
    """The record's account id, or None (and a problem) if it is missing or seen before."""
    raw, span = rec.cells.get(account_col, ("", rec.span))
    account = account_id(raw)
    if not account:
        problems.append(
            Problem(span, "missing account id", expected="an account id", found="an empty cell", code="account")
        )
        return None
    bad_id = account_id_problem(account, span)
    if bad_id is not None:
        problems.append(bad_id)
        return None
    if account in first_seen:
        problems.append(
            Problem(
                span,
                f"duplicate account '{account}'",
                expected="each account once",
                found=f"'{account}' again (first at {_where(first_seen[account])})",
                code="duplicate-account",
            )
        )
        return None
    first_seen[account] = span
    return account


def _where(span: Span) -> str:
    return f"line {span.line}" if span.line else span.file
