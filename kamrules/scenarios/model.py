"""What a scenario file holds once read and checked: frozen dataclasses and the names they use."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from kamrules.errors import Span
from kamrules.inputs.tables import AccountRow
from kamrules.lang import Account, RuleSet

MOVES = ("advance", "hold", "regress", "uncouple", "recover")
CHANGE_OPS = ("set", "add", "multiply")  # applied in this order within a period
DISTRIBUTIONS = {"normal": ("mean", "sd"), "uniform": ("low", "high"), "choice": ()}


@dataclass(frozen=True)
class Distribution:
    """A random value: normal(mean, sd), uniform(low, high) or a choice among weighted values."""

    kind: str
    params: tuple[Any, ...]  # (mean, sd) | (low, high) | ((value, probability), ...)

    def central(self) -> Any:
        """The value used on the expected path: the mean, the midpoint, or the most probable choice."""
        if self.kind == "normal":
            return self.params[0]
        if self.kind == "uniform":
            return (self.params[0] + self.params[1]) / 2
        return max(self.params, key=lambda vp: vp[1])[0]  # max keeps the first of equal weights

    def draw(self, rng: random.Random) -> Any:
        """One random value."""
        if self.kind == "normal":
            return rng.gauss(*self.params)
        if self.kind == "uniform":
            return rng.uniform(*self.params)
        u, acc = rng.random(), 0.0
        for value, p in self.params:
            acc += p
            if u < acc:
                return value
        return self.params[-1][0]  # u landed in the rounding gap at the top


@dataclass(frozen=True)
class Change:
    """One change to a given fact in a period: set it, add to it, or multiply it."""

    op: str
    fact: str
    value: Any  # a constant or a Distribution
    span: Span


@dataclass(frozen=True)
class Expectation:
    """One thing that must hold at the end of a period."""

    kind: str  # stage | move | key_account | structure | action | no_action | fired | key_accounts
    value: Any
    span: Span


@dataclass(frozen=True)
class Step:
    """One period of a scenario: its changes, events, whether the move is refused, and expectations.

    In a portfolio scenario ``changes`` apply to every account, then ``account_changes`` to the named ones.
    """

    label: str
    changes: tuple[Change, ...]
    events: tuple[str, ...]
    refuse_move: bool
    expect: tuple[Expectation, ...]
    span: Span
    account_changes: tuple[tuple[str, tuple[Change, ...]], ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: the starting account (or portfolio), the rule set and the steps (periods)."""

    name: str
    description: str
    file: str
    ruleset: RuleSet
    account: Account | None  # None in a portfolio scenario
    steps: tuple[Step, ...]
    portfolio: tuple[AccountRow, ...] = ()  # the starting rows of a portfolio scenario
    portfolio_file: str | None = None
    portfolio_span: Span | None = None

    @property
    def is_portfolio(self) -> bool:
        """True when the scenario reviews a portfolio (an account table) rather than one account."""
        return self.portfolio_file is not None

    @property
    def single_account(self) -> Account:
        """The starting account of a single-account scenario."""
        if self.account is None:
            raise ValueError(f"scenario {self.name} is a portfolio scenario: it has no single account")
        return self.account
