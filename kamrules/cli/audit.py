"""The decision log: list, show, verify, replay, backtest."""

from __future__ import annotations

import click

from kamrules.audit import log as audit
from kamrules.audit import replay as replays
from kamrules.cli.options import (
    audit_db_option,
    format_option,
    rules_dir_option,
    since_option,
    write,
)
from kamrules.errors import EXIT_FAILED, EXIT_OK
from kamrules.render.registry import AuditEntries, Verified


@click.group("audit")
def audit_group() -> None:
    """The decision log: list, show, verify, replay, backtest.

    \b
    The log is an SQLite file: --audit-db, else $KAMRULES_AUDIT_DB,
    else ./.kamrules/audit.sqlite in the current directory.
    """


@audit_group.command("list")
@click.option("--account", default=None, help="Only this account id.")
@since_option
@click.option("--rule", default=None, help="Only decisions where this rule fired.")
@audit_db_option
@format_option
def audit_list(account: str | None, since: str | None, rule: str | None, audit_db: str | None, fmt: str) -> None:
    """Recorded decisions, oldest first."""
    entries = audit.list_decisions(audit.db_path(audit_db), account, since, rule)
    write(AuditEntries(tuple(entries)), fmt)


@audit_group.command("show")
@click.argument("decision_id")
@audit_db_option
@format_option
def audit_show(decision_id: str, audit_db: str | None, fmt: str) -> None:
    """One recorded decision in full: inputs, every firing, the recommendation."""
    write(audit.show(audit.db_path(audit_db), decision_id), fmt)


@audit_group.command("verify")
@audit_db_option
@format_option
def audit_verify(audit_db: str | None, fmt: str) -> int:
    """Check the hash chain: exit 0 if intact, 1 naming the first broken record."""
    path = audit.db_path(audit_db)
    # In JSON the broken record is part of the one document; as text it is an error (CheckFailed) on stderr.
    v = audit.verify(path) if fmt == "json" else audit.check(path)
    write(Verified(path, v), fmt)
    return EXIT_OK if v.ok else EXIT_FAILED


@audit_group.command("replay")
@click.argument("decision_id")
@rules_dir_option("Replay with this rules folder instead of the recorded rule text.", default=None)
@audit_db_option
@format_option
def audit_replay(decision_id: str, rules_dir: str | None, audit_db: str | None, fmt: str) -> int:
    """Re-evaluate a recorded decision's inputs with the recorded rules (or --rules) and compare."""
    r = replays.replay(audit.db_path(audit_db), decision_id, rules_dir)
    write(r, fmt)
    # With the recorded rules a difference means the log or kamrules changed: a failed check.
    return EXIT_FAILED if rules_dir is None and not r.identical else EXIT_OK


@audit_group.command("backtest")
@rules_dir_option("The new rules folder to run the recorded decisions through.", required=True)
@since_option
@audit_db_option
@format_option
def audit_backtest(rules_dir: str, since: str | None, audit_db: str | None, fmt: str) -> None:
    """Which recorded decisions a rule change would alter, counted by type of change."""
    write(replays.backtest(audit.db_path(audit_db), rules_dir, since), fmt)
