"""The portfolio's rules stage: the columnar plan (default) or durable_rules, with a sample cross-checked.

Both engines only choose which rules fire; the one Evaluator builds every Decision from those firings,
so every output made from decisions is the same whichever engine chose. A columnar run sends a seeded
random sample of accounts (``cross_check``, default 1,000, all if fewer) through durable_rules too and
stops with exit 4 at the first account where the two decisions differ.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from kamrules.engine import Decision, Evaluator
from kamrules.engine.compute import review_date
from kamrules.engine.evaluate import Trace
from kamrules.errors import EngineError
from kamrules.lang import Account, RuleSet

if TYPE_CHECKING:  # polars only when a portfolio is reviewed: single-account commands start without it
    from kamrules.engine.columnar import RulePlan

EngineName = Literal["columnar", "durable"]
ENGINES = ("columnar", "durable")
CROSS_CHECK = 1000
"""Accounts of each pass sent through durable_rules as well, by default."""
SEED = 20260930  # the sample is the same on every run of the same accounts, so a difference reproduces


class CrossCheckError(EngineError):
    """The columnar plan and durable_rules decided an account differently: a bug in kamrules (exit 4)."""


class PortfolioRules:
    """Evaluates many accounts with the chosen engine; the drop-in for an Evaluator in the review."""

    def __init__(
        self,
        ruleset: RuleSet,
        as_of: dt.date | None = None,
        engine: str = "columnar",
        cross_check: int = CROSS_CHECK,
        seed: int = SEED,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if cross_check < 0:
            raise ValueError(f"cross_check must be 0 or more, not {cross_check}")
        self.ruleset = ruleset
        self.engine_name = engine
        self.cross_check = cross_check
        self._seed = seed
        self.evaluator = Evaluator(ruleset, as_of=as_of)
        self._plan: RulePlan | None = None
        if engine == "columnar":
            from kamrules.engine.columnar import RulePlan

            self._plan = RulePlan(ruleset, as_of or review_date())
        self._sample: set[str] | None = None
        self.checked = 0  # accounts cross-checked through durable_rules so far

    @property
    def plan(self) -> RulePlan | None:
        """The columnar plan (None with the durable engine)."""
        return self._plan

    def close(self) -> None:
        """Free the engine."""
        self.evaluator.close()

    def __enter__(self) -> PortfolioRules:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sampling(self, accounts: Sequence[Account]) -> None:
        """Choose the accounts of this pass to cross-check: a seeded sample of ``cross_check`` (all if fewer)."""
        import random  # only a portfolio's cross-check samples

        ids = [a.id for a in accounts]
        k = min(self.cross_check, len(ids))
        self._sample = set(random.Random(self._seed).sample(ids, k)) if k < len(ids) else set(ids)

    def evaluate(self, account: Account, trace: Trace | None = None) -> Decision:
        """The decision for one account (always cross-checked when the check is on)."""
        return self._run([account], trace, check_all=self.cross_check > 0)[0]

    def evaluate_many(self, accounts: Sequence[Account], trace: Trace | None = None) -> list[Decision]:
        """Decisions for a batch; the sampled accounts in it are cross-checked (without `sampling`: the batch's)."""
        return self._run(accounts, trace, check_all=False)

    def evaluate_sampled(self, accounts: Sequence[Account], trace: Trace | None = None) -> list[Decision]:
        """Decisions for one batch on its own, with a seeded sample of ``cross_check`` positions in it checked."""
        # By position, not by id: a batch may name one account many times (its versions, a test's copies).
        import random

        k = min(self.cross_check, len(accounts))
        return self._run(accounts, trace, picked=sorted(random.Random(self._seed).sample(range(len(accounts)), k)))

    def _run(
        self, accounts: Sequence[Account], trace: Trace | None, check_all: bool = False, picked: list[int] | None = None
    ) -> list[Decision]:
        if self._plan is None:
            return self.evaluator.evaluate_many(accounts, trace)
        from kamrules.engine.columnar import account_frame

        firings = self._plan.firings(account_frame(self.ruleset, accounts))
        decisions = self.evaluator.evaluate_many(accounts, trace, firings=firings)
        if self.cross_check:
            if check_all:
                picked = list(range(len(accounts)))
            elif picked is None:
                if self._sample is None:
                    self.sampling(accounts)
                sample = self._sample or set()
                picked = [i for i, a in enumerate(accounts) if a.id in sample]
            if picked:
                self._compare([accounts[i] for i in picked], [decisions[i] for i in picked], trace)
        return decisions

    def _compare(self, accounts: list[Account], columnar: list[Decision], trace: Trace | None) -> None:
        durable = self.evaluator.evaluate_many(accounts, trace)
        self.checked += len(accounts)
        for a, c, d in zip(accounts, columnar, durable, strict=True):
            what = difference(c.to_dict(), d.to_dict())
            if what is not None:
                raise CrossCheckError(
                    f"the columnar rule plan and durable_rules decided account '{a.id}' differently: {what}"
                )


def difference(columnar: dict[str, Any], durable: dict[str, Any]) -> str | None:
    """The first part of two decisions (JSON form) that differs, in words; None when they are equal."""
    keys = ["fired", *durable, *(k for k in columnar if k not in durable)]  # the firings say most
    for key in dict.fromkeys(keys):
        c, d = columnar.get(key), durable.get(key)
        if c != d:
            if key == "fired":
                only_c = [r for r in c or [] if r not in (d or [])]
                only_d = [r for r in d or [] if r not in (c or [])]
                return f"fired: only columnar {only_c}, only durable_rules {only_d}"
            return f"{key}: columnar {_short(c)}, durable_rules {_short(d)}"
    return None


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 200 else text[:197] + "..."
