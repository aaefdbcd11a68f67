"""The root command: its commands are imported only when one of them runs, so a command loads what it needs."""

from __future__ import annotations

import importlib
from typing import Any

import click

from kamrules import __version__, collector_paused
from kamrules.cli.options import KamrulesGroup

# name -> "module:attribute"; the module is imported when the command is run or its help is shown.
COMMANDS = {
    "evaluate": "kamrules.cli.decide:evaluate",
    "explain": "kamrules.cli.decide:explain_cmd",
    "rules": "kamrules.cli.rules:rules",
    "audit": "kamrules.cli.audit:audit_group",
    "simulate": "kamrules.cli.scenarios:simulate",
    "test": "kamrules.cli.scenarios:test_scenarios",
    "portfolio": "kamrules.cli.portfolio:portfolio_cmd",
    "abc": "kamrules.cli.portfolio:abc_cmd",
    "serve": "kamrules.cli.serve:serve_cmd",
    "init": "kamrules.cli.init:init_cmd",
}


class LazyGroup(KamrulesGroup):
    """The root group, with commands looked up by name in COMMANDS (click's lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, in the order of COMMANDS."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the module of one command and return it."""
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        with collector_paused():
            command: Any = getattr(importlib.import_module(module), attr)
        return command  # type: ignore[no-any-return]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kamrules")
def main() -> None:
    """Rule-based decision support for Key Account Management.

    \b
    Exit codes: 0 ok; 1 a check failed (expectations, audit verify);
    2 bad command line; 3 invalid input (rules, accounts, tables); 4 internal error.
    """
