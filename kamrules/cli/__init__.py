"""The command line: parse, call the library, render, exit. No logic of its own."""

from kamrules import collector_paused

with collector_paused():
    from kamrules.cli.app import main

__all__ = ["main"]
