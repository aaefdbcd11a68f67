"""The decision log: list, show, explain, verify, checkpoint, replay, backtest."""

from __future__ import annotations

import itertools
from pathlib import Path

import click

from kamrules.audit import checkpoint as checkpoints
from kamrules.audit import log as audit
from kamrules.audit import replay as replays
from kamrules.audit import verify as verifying
from kamrules.cli.options import (
    audit_db_option,
    format_option,
    rules_dir_option,
    since_option,
    write,
)
from kamrules.errors import EXIT_FAILED, EXIT_OK, InvalidInput, Span
from kamrules.render.audit import AuditEntries, Checkpointed, Verified
from kamrules.render.registry import render


@click.group("audit")
def audit_group() -> None:
    """The decision log: list, show, explain, verify, checkpoint, replay, backtest.

    \b
    The log is an SQLite file: --audit-db, else $KAMRULES_AUDIT_DB,
    else ./.kamrules/audit.sqlite in the current directory.
    With $KAMRULES_AUDIT_KEY set, records are written and verified with an HMAC.
    """


@audit_group.command("list")
@click.option("--account", default=None, help="Only this account id.")
@click.option("--run", default=None, help="Only the decisions of this run (its id, or a unique prefix).")
@since_option
@click.option("--rule", default=None, help="Only decisions where this rule fired.")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(min=0), help="Show at most this many (0: all)."
)
@audit_db_option
@format_option
def audit_list(
    account: str | None,
    run: str | None,
    since: str | None,
    rule: str | None,
    limit: int,
    audit_db: str | None,
    fmt: str,
) -> None:
    """Recorded decisions, oldest first."""
    path = audit.db_path(audit_db)
    shown = tuple(itertools.islice(audit.iter_decisions(path, account, since, rule, run), limit or None))
    # Counted, not read: the rest of a million-decision run would take minutes to turn into records.
    more = audit.count_decisions(path, account, since, rule, run) - len(shown) if len(shown) == limit else 0
    write(AuditEntries(shown, more), fmt)


@audit_group.command("show")
@click.argument("decision_id")
@audit_db_option
@format_option
def audit_show(decision_id: str, audit_db: str | None, fmt: str) -> None:
    """One recorded decision in full: inputs, every firing (recomputed from the log), the recommendation."""
    path = audit.db_path(audit_db)
    write(replays.traced(path, audit.show(path, decision_id)), fmt)


@audit_group.command("explain")
@click.argument("account")
@click.option("--run", required=True, help="The run that decided the account (its id, or a unique prefix).")
@audit_db_option
@format_option
def audit_explain(account: str, run: str, audit_db: str | None, fmt: str) -> None:
    """Why, why not and what it would take, for an account as a recorded run decided it (recomputed from the log)."""
    write(replays.explain_recorded(audit.db_path(audit_db), account, run), fmt)


checkpoint_file = click.option(
    "--checkpoint",
    "checkpoint_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="A file written by 'audit checkpoint': also detect truncation, rollback and rewriting since then.",
)


@audit_group.command("verify")
@checkpoint_file
@audit_db_option
@format_option
def audit_verify(checkpoint_file: str | None, audit_db: str | None, fmt: str) -> int:
    """Check the hash chain (and MACs, with the key): exit 0 if intact, 1 naming the first broken record."""
    path = audit.db_path(audit_db)
    cp = checkpoints.read_checkpoint(Path(checkpoint_file)) if checkpoint_file else None
    # In JSON the broken record is part of the one document; as text it is an error (CheckFailed) on stderr.
    v = verifying.verify(path, cp) if fmt == "json" else verifying.check(path, cp)
    write(Verified(path, v), fmt)
    return EXIT_OK if v.ok else EXIT_FAILED


@audit_group.command("checkpoint")
@click.option("--output", default=None, type=click.Path(dir_okay=False), help="Also write the checkpoint to this file.")
@audit_db_option
@format_option
def audit_checkpoint(output: str | None, audit_db: str | None, fmt: str) -> None:
    """The head of the log (records and last hash), to keep outside it for 'audit verify --checkpoint'."""
    path = audit.db_path(audit_db)
    cp = Checkpointed(path, checkpoints.checkpoint(path))
    if output:
        try:
            Path(output).write_text(render(cp, "json"), encoding="utf-8")
        except OSError as e:
            raise InvalidInput.at(
                Span(output), f"cannot write the checkpoint: {e.strerror or e}", code="audit"
            ) from None
    write(cp, fmt)


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
    """Which recorded decisions a rule change would alter, counted by type of change (accounts and decisions)."""
    write(replays.backtest(audit.db_path(audit_db), rules_dir, since), fmt)
