"""A running decision service: its rules, its decision log, its worker threads, and the work each request does.

Each request takes the rules version being served once, at its start, and does all its work on it;
the decisions are recorded before the response is made. The work runs in the service's own worker
threads, each with its own Evaluators (kamrules.serve.rules.evaluator), never in the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kamrules.audit import log as audit
from kamrules.audit import replay
from kamrules.engine import Decision, explain
from kamrules.engine.compute import reviewing_on
from kamrules.errors import InvalidInput
from kamrules.inputs import read_review_input
from kamrules.kam import context as kam_context
from kamrules.kam import review as pf
from kamrules.kam.engines import SEED
from kamrules.kam.frame_facts import enriched
from kamrules.kam.scale import COLUMNS, decision_frame
from kamrules.render import review as pr
from kamrules.render import service as words
from kamrules.render.decision import Evaluated
from kamrules.render.registry import render
from kamrules.serve import columns, documents
from kamrules.serve.recording import DecisionLog, Part
from kamrules.serve.rules import Loaded, Mark, Reloaded, Rules, Shared, batch_rules, evaluator

if TYPE_CHECKING:
    import polars as pl

T = TypeVar("T")
MiB = 1 << 20
BATCH_CROSS_CHECK = 4
"""Accounts of each batch that durable_rules decides too, at seeded positions, to check the columnar plan."""
logger = logging.getLogger("kamrules.serve")


class NotRecorded(Exception):
    """The decision log could not be written (disk full, file removed, locked too long): no answer without it."""


@dataclass(frozen=True)
class ServeConfig:
    """How a service runs: its rules folder, its decision log, its worker threads, its limits and its token."""

    rules_dir: str
    audit_db: Path
    workers: int = 4
    max_body: int = 16 * MiB
    token: str | None = None
    cross_check: int = BATCH_CROSS_CHECK
    shared: Path | None = None
    """With several processes: the file by which a reload in one reaches the others (rules.Shared)."""


@dataclass(frozen=True)
class Answer:
    """A response body, and the rules version it was made with."""

    text: str
    version: str


class Service:
    """The rules, the decision log and the worker threads of one running service."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.rules = Rules(config.rules_dir)
        lock = config.shared.with_name("decision-log.lock") if config.shared else None
        self.log = DecisionLog(config.audit_db, self.rules.current.ruleset, lock)
        self._pool = ThreadPoolExecutor(config.workers, thread_name_prefix="kamrules-worker")
        self.shared = Shared(config.shared) if config.shared else None
        self._catching_up = asyncio.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def record(self, parts: Sequence[Part]) -> list[str]:
        """Record decisions; returns their ids once they are committed."""
        try:
            return await asyncio.wrap_future(self.log.submit(parts))
        except InvalidInput as err:
            raise _not_recorded(err) from err

    def reload(self) -> tuple[str, str]:
        """Reload the rules folder (a broken one raises InvalidInput and changes nothing); logged either way.

        With several processes, the others follow (even when unchanged here: they may serve another version).
        """
        done = reload_logged(self.rules)
        if self.shared is not None:
            self.shared.announce(done.current)
        return done.previous, done.current

    async def catch_up(self) -> None:
        """Before a request takes its rules: follow a reload another process of this service announced."""
        if self.shared is None or not self.shared.changed():
            return
        async with self._catching_up:  # the requests that saw the change wait for one reload, then use it
            mark = self.shared.mark()
            if mark != self.shared.seen:
                await self.run(self._follow, mark)

    def _follow(self, mark: Mark) -> None:
        assert self.shared is not None
        before = self.rules.current.version
        try:
            done = self.rules.reload()
        except InvalidInput as err:  # broken since the other process read it: this one serves on as it was
            for line in words.refused_log_lines(err, before):
                logger.warning(line)
        else:
            logger.info(words.followed_log_line(done.previous, done.current))
        finally:
            self.shared.seen = mark

    def close(self) -> None:
        """Finish the work under way and commit every decision made."""
        self._pool.shutdown(wait=True)
        self.log.close()

    # ------------------------------------------------------------------ the requests

    async def evaluate(self, body: bytes, day: dt.date | None, batch: bool) -> Answer:
        """POST /v1/evaluate and /v1/evaluate/batch."""
        if not batch:
            return await self.evaluate_one(body, day)
        loaded = self.rules.current
        decisions, notes = await self.run(_decide, loaded, body, _day(day), batch, self.config.cross_check)
        ids = await self.record([Part(tuple(decisions), loaded.ruleset)])
        shown = Evaluated(tuple(decisions), loaded.ruleset, tuple(ids), tuple(notes))
        return Answer(await self.run(words.compact, words.batch_document(shown)), loaded.version)

    async def evaluate_one(self, body: bytes, day: dt.date | None) -> Answer:
        """POST /v1/evaluate: decided, made into its document and queued for the log in one worker thread."""
        # In a worker: deciding in the event loop's thread took no less CPU a request through HTTP and doubled
        # p99 at 16 connections (the loop could not read or answer meanwhile). One hand-over each way: the
        # worker queues the record itself, and the log's writer answers every request of a commit at once.
        loaded, loop = self.rules.current, asyncio.get_running_loop()
        answer: asyncio.Future[Answer] = loop.create_future()
        self._pool.submit(self._evaluate_one, loop, answer, loaded, body, _day(day))
        return await answer

    def _evaluate_one(
        self, loop: asyncio.AbstractEventLoop, answer: asyncio.Future[Answer], loaded: Loaded, body: bytes, day: dt.date
    ) -> None:
        try:
            (decision,), (notes,) = _decide(loaded, body, day, False, self.config.cross_check)
            shown = Evaluated((decision,), loaded.ruleset, (), (notes,))
            # The document's text up to its id, the last key, which the log gives when it commits.
            head = words.compact(words.decision_document(shown))[:-1] + ',"decision_id":"'
        except Exception as err:  # bad input (422) or a bug (500), answered as the route answers them
            loop.call_soon_threadsafe(_settle, answer, err)
            return

        def then(ids: list[str] | BaseException) -> None:
            if isinstance(ids, BaseException):
                _settle(answer, _not_recorded(ids))
            else:
                _settle(answer, Answer(f'{head}{ids[0]}"}}', loaded.version))

        self.log.submit_then([Part((decision,), loaded.ruleset)], loop, then)

    async def batch(self, body: bytes, day: dt.date | None, full: bool) -> Answer:
        """POST /v1/evaluate/batch: the compact answer, decided and recorded by column; ``full``: every reason."""
        if full:
            return await self.evaluate(body, day, batch=True)
        loaded = self.rules.current
        frame, notes = await self.run(_decide_frame, loaded, body, _day(day), self.config.cross_check)
        ids = await self.record([Part((), loaded.ruleset, frame=frame.select(COLUMNS))]) if frame.height else []
        return Answer(await self.run(words.compact_batch, frame, ids, notes, loaded.ruleset), loaded.version)

    async def explain(self, body: bytes, day: dt.date | None) -> Answer:
        """POST /v1/explain: why, why not and what it would take; its decision is recorded."""
        loaded = self.rules.current
        explanation = await self.run(_explain, loaded, body, _day(day))
        (decision_id,) = await self.record([Part((explanation.decision,), loaded.ruleset)])
        return Answer(await self.run(words.explained, explanation, decision_id), loaded.version)

    async def portfolio(self, body: bytes, day: dt.date | None, upload: documents.Upload) -> Answer:
        """POST /v1/portfolio: the periodic review of an uploaded table, as `kamrules portfolio --format json`."""
        loaded = self.rules.current
        text, parts = await self.run(_review, loaded, body, _day(day), upload)
        await self.record(parts)
        return Answer(text, loaded.version)

    def rules_listing(self) -> Answer:
        """GET /v1/rules: the version, where the rules come from, every rule."""
        loaded = self.rules.current
        return Answer(words.compact(words.rules_document(loaded.ruleset, loaded.directory)), loaded.version)

    async def decision(self, decision_id: str) -> Answer:
        """GET /v1/decisions/{id}: a recorded decision, as `kamrules audit show --format json`."""
        entry = await self.run(_shown, self.config.audit_db, decision_id)
        return Answer(render(entry, "json"), entry.rules_version)


def _not_recorded(err: BaseException) -> BaseException:
    # The log, not the request, is at fault: no decision goes out unrecorded.
    return NotRecorded(err.summary()) if isinstance(err, InvalidInput) else err


def _settle(future: asyncio.Future[T], outcome: T | BaseException) -> None:
    if future.done():  # the request was cancelled meanwhile
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def reload_logged(rules: Rules) -> Reloaded:
    """Reload a rules folder (a broken one raises InvalidInput and changes nothing); logged either way."""
    before = rules.current.version
    try:
        done = rules.reload()
    except InvalidInput as err:
        for line in words.refused_log_lines(err, before):
            logger.warning(line)
        raise
    logger.info(words.reload_log_line(done.previous, done.current))
    return done


def _shown(path: Path, decision_id: str) -> audit.Entry:
    # As `kamrules audit show`: a compact record's firings are recomputed from the recorded facts and rule text.
    return replay.traced(path, audit.show(path, decision_id))


def _day(day: dt.date | None) -> dt.date:
    # Today, each time: a long-running service must not keep the day it started on.
    return day or dt.date.today()


def _decide(
    loaded: Loaded, body: bytes, day: dt.date, batch: bool, cross_check: int
) -> tuple[list[Decision], list[tuple[str, ...]]]:
    if batch:
        accounts = documents.read_body(body, documents.batch_reader(loaded.ruleset, "POST /v1/evaluate/batch"))
    else:
        accounts = documents.read_account(body, loaded.ruleset, "POST /v1/evaluate")
    if not batch:  # one account: durable_rules, the engine of record
        ev = evaluator(loaded, day)
        prepared = kam_context.prepare(ev, accounts, loaded.settings)
        return ev.evaluate_many([a for a, _ in prepared]), [n for _, n in prepared]
    # A batch: the columnar plan chooses the firings, a seeded sample goes through durable_rules too and a
    # difference is a CrossCheckError (a 500 whose id the server's log has with the difference).
    rules = batch_rules(loaded, day, cross_check)
    prepared = kam_context.prepare(rules.evaluator, accounts, loaded.settings)
    return rules.evaluate_sampled([a for a, _ in prepared]), [n for _, n in prepared]


def _decide_frame(
    loaded: Loaded, body: bytes, day: dt.date, cross_check: int
) -> tuple[pl.DataFrame, list[tuple[str, ...]]]:
    """A batch by column: its compact decision frame (with `derived_by`) and each account's notes."""
    rs = loaded.ruleset
    facts = columns.batch_frame(body, rs, "POST /v1/evaluate/batch")
    ready, potential = enriched(facts, rs, loaded.settings)
    rules = batch_rules(loaded, day, cross_check)
    assert rules.plan is not None
    # Seeded by the body: the same batch checks the same accounts (a difference reproduces), another batch
    # other ones, so that over a run the sample moves over every position of the batches.
    seed = SEED ^ zlib.crc32(body)
    frame = decision_frame(rs, ready, day, cross_check, seed, (rules.plan, rules.evaluator), derived_by=True)
    unranked = facts["selection_rank"].is_null().to_list() if "selection_rank" in rs.facts else [False] * facts.height
    notes = [
        tuple(c for c in (p, "no-selection-rank" if u else None) if c)
        for p, u in zip(potential.to_list(), unranked, strict=True)
    ]
    return frame, notes


def _explain(loaded: Loaded, body: bytes, day: dt.date) -> explain.Explanation:
    (account,) = documents.read_body(body, documents.account_reader(loaded.ruleset, "POST /v1/explain"))
    ev = evaluator(loaded, day)
    account = kam_context.prepare(ev, [account], loaded.settings)[0][0]
    return explain.explain(ev, account)


def _review(loaded: Loaded, body: bytes, day: dt.date, upload: documents.Upload) -> tuple[str, list[Part]]:
    rs, structure_rules = loaded.ruleset, loaded.structure_rules
    parts: list[Part] = []
    chunks: list[str] = []
    with documents.uploaded(body, upload) as (path, name):
        rows, before, meta = read_review_input(
            path, upload.transactions, upload.period, upload.previous, upload.columns
        )
        # As `kamrules portfolio --format json`, without the server's rules folder; "run" is null: the service
        # records each request's decisions in runs of its own, each decision found by id.
        head = pr.review_head(meta | {"file": name}, None, loaded.settings, rs.version, None, upload.traces)
        stream = pr.JsonStream(chunks.append, head) if upload.traces else None

        def on_batch(results: list[pf.AccountResult]) -> None:
            parts.append(Part(tuple(r.decision for r in results), rs))
            for r in results:
                if stream:
                    stream.account(r.to_dict())

        # The review's own Evaluator reads the review date from the context, as under `--as-of`.
        with reviewing_on(day):
            rv = pf.review(rows, rs, loaded.settings, before, None, on_batch, structure_rules, day)
    if rv.structure.decision and structure_rules is not None:
        parts.append(Part((rv.structure.decision,), structure_rules, "portfolio"))
    if stream:
        stream.finish(rv)
        return "".join(chunks), parts
    out: list[bytes] = []
    pr.review_json(pr.ReviewReport(rv, meta), head, out.append)
    return b"".join(out).decode("utf-8"), parts
