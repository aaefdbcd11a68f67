"""`rules check` and `rules list`: a rule set's counts and version, its rules as a table, JSON, CSV, Markdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kamrules.lang.model import RuleSet
from kamrules.render.decision import csv_text, table, to_json
from kamrules.render.words import condition_text, fmt


@dataclass(frozen=True)
class RulesChecked:
    """What `kamrules rules check` shows for a valid folder."""

    directory: str
    ruleset: RuleSet


def rules_checked_json(c: RulesChecked) -> str:
    """The counts and the version as JSON."""
    rs = c.ruleset
    data = {
        "ok": True,
        "rules": len(rs.rules),
        "facts": len(rs.facts),
        "strata": rs.strata,
        "rules_version": rs.version,
    }
    return to_json(data) + "\n"


def rules_checked_text(c: RulesChecked) -> str:
    """One line: the folder is ok, with its counts and short version."""
    rs = c.ruleset
    return (
        f"{c.directory}: ok: {len(rs.rules)} rules, {len(rs.facts)} facts, {rs.strata} strata, "
        f"version {rs.version[:12]}\n"
    )


@dataclass(frozen=True)
class RulesListing:
    """What `kamrules rules list` shows: every rule of a rule set."""

    ruleset: RuleSet


_LISTING_COLUMNS = ["id", "source", "priority", "when", "then"]


def listing_json(listing: RulesListing) -> str:
    """The rules with the rule-set version as JSON."""
    return to_json({"rules_version": listing.ruleset.version, "rules": rules_rows(listing.ruleset)}) + "\n"


def listing_csv(listing: RulesListing) -> str:
    """Every field of every rule as CSV (csv's own CRLF line ends)."""
    rows = rules_rows(listing.ruleset)
    return csv_text(rows, list(rows[0]) if rows else _LISTING_COLUMNS)


def listing_markdown(listing: RulesListing) -> str:
    """The listing columns as a Markdown table, nothing wrapped."""
    return table(rules_rows(listing.ruleset), _LISTING_COLUMNS, "github", None) + "\n"


def listing_text(listing: RulesListing) -> str:
    """The listing columns as a terminal table, wrapped at 50 characters."""
    return table(rules_rows(listing.ruleset), _LISTING_COLUMNS, "simple", 50) + "\n"


def rules_rows(ruleset: RuleSet) -> list[dict[str, Any]]:
    """The rules as data for listing."""
    rows = []
    for r in sorted(ruleset.rules, key=lambda r: (r.file, r.line)):
        concl = []
        concl += [f"{k}={fmt(v)}" for k, v in r.derive]
        if r.stage:
            concl.append(f"stage→{r.stage}")
        if r.structure:
            concl.append(f"structure→{r.structure}")
        concl += [f"action {a.id}" for a in r.actions]
        rows.append(
            {
                "id": r.id,
                "source": r.source,
                "priority": r.priority,
                "stratum": r.stratum,
                "when": condition_text(r.when),
                "then": "; ".join(concl),
                "description": r.description,
            }
        )
    return rows
