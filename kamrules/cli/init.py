"""`kamrules init`: a copy of the shipped default rules to tune."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from kamrules.errors import InvalidInput, Span
from kamrules.lang.defaults import shipped
from kamrules.render.words import initialised_text


@click.command("init")
@click.argument("directory", default="rules", type=click.Path(file_okay=False))
def init_cmd(directory: str) -> None:
    """Copy the default rules, facts and settings into DIRECTORY (default: ./rules, which kamrules then uses)."""
    target = Path(directory)
    if target.exists() and any(target.iterdir()):
        raise InvalidInput.at(
            Span(directory),
            "the folder is not empty",
            expected="a new or empty folder",
            found="files in it",
            code="init",
            help="kamrules init never overwrites rules; choose another folder or remove this one",
        )
    shutil.copytree(shipped(), target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    click.echo(initialised_text(directory, sorted(str(p.relative_to(target)) for p in target.rglob("*.yaml"))))
