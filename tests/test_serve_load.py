"""The real server under load: `kamrules serve` in a subprocess on a loopback port, many httpx clients at once."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from kamrules.audit import log as audit
from kamrules.engine import Evaluator
from kamrules.kam import context as kam_context
from kamrules.kam import load_settings
from kamrules.lang import Account, RuleSet, load_ruleset, load_ruleset_texts
from kamrules.render.decision import Evaluated
from kamrules.render.service import VERSION_HEADER, compact, decision_document

ROOT = Path(__file__).resolve().parent.parent
SMALL_RULES = ROOT / "tests" / "data" / "serve" / "rules"
KAMRULES = Path(sys.executable).parent / "kamrules"
TOKEN = "s3cret-for-the-test"
CLIENTS, REQUESTS = 16, 500
AS_OF = "2026-09-30"


def documents() -> list[dict]:
    """Accounts whose decisions differ (key or not, advance, hold, uncouple), so a mixed-up answer shows."""
    stages = ["early-KAM", "mid-KAM", "pre-KAM"]
    return [
        {
            "account": f"ACC-{i:03d}",
            "facts": {"stage": stages[i % 3], "revenue": 400_000.0 * (i % 4 + 1), "trust_score": (i % 8) + 0.5},
        }
        for i in range(48)
    ]


def serial(rs: RuleSet, docs: list[dict]) -> dict[str, dict]:
    """Each account's decision as `kamrules evaluate --format json` gives it, one after the other, in-process."""
    settings, day = load_settings(rs.directory), dt.date.fromisoformat(AS_OF)
    out = {}
    with Evaluator(rs, as_of=day) as ev:
        for doc in docs:
            ((account, notes),) = kam_context.prepare(ev, [Account(doc["account"], doc["facts"])], settings)
            d = ev.evaluate(account)
            out[d.account] = json.loads(compact(decision_document(Evaluated((d,), rs, (), (notes,)))))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`kamrules serve` in a subprocess, stopped (and its log checked for tracebacks) at the end."""

    def __init__(self, rules: Path, db: Path, log: Path, processes: int = 1) -> None:
        self.port, self.log = free_port(), log
        env = dict(os.environ, KAMRULES_TOKEN=TOKEN)
        cmd = [str(KAMRULES), "serve", "--port", str(self.port), "--rules", str(rules), "--audit-db", str(db)]
        cmd += ["--processes", str(processes)]
        self._err = log.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=self._err)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("the server did not start:\n" + log.read_text())

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=60)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self._err.close()


@pytest.fixture
def folders(tmp_path):
    """A rules folder the server serves, and the same folder with one threshold changed (the reload)."""
    served, changed = tmp_path / "rules", tmp_path / "changed"
    shutil.copytree(SMALL_RULES, served)
    shutil.copytree(SMALL_RULES, changed)
    text = (changed / "rules.yaml").read_text(encoding="utf-8")
    (changed / "rules.yaml").write_text(text.replace("value: 6}", "value: 3}"), encoding="utf-8")
    return served, changed


@pytest.mark.parametrize("processes", [1, 2])
def test_concurrent_clients_get_the_serial_decisions_through_a_reload(tmp_path, folders, processes):
    """16 clients x 500 requests with a refused and an accepted reload midway, against one server process or
    two on the one port: every answer is the serial decision of the version it names (the old or the new;
    the new for every request sent after the reload answered, whichever process takes it), every one is
    recorded, and the log (written by every process) verifies."""
    served, changed = folders
    docs = documents()
    # The changed rules as they will be read from the served folder once the file is copied there.
    before, after = load_ruleset(served), load_ruleset_texts(load_ruleset(changed).files, served)
    expected = {before.version: serial(before, docs), after.version: serial(after, docs)}
    old, new = list(expected)
    bodies = [json.dumps(d).encode() for d in docs]
    db = tmp_path / "audit.sqlite"
    server = Server(served, db, tmp_path / "server.log", processes)
    answers: list[tuple[int, int, dict]] = []
    sent_at: list[float] = []
    done = threading.Semaphore(0)
    lock = threading.Lock()

    def client(c: int) -> None:
        with server.client() as http:
            for j in range(REQUESTS):
                i = (c * REQUESTS + j) % len(docs)
                start = time.monotonic()
                r = http.post(f"/v1/evaluate?as_of={AS_OF}", content=bodies[i])
                with lock:
                    answers.append((i, r.status_code, r.json() | {"header": r.headers.get(VERSION_HEADER)}))
                    sent_at.append(start)
                done.release()

    try:
        threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for _ in range(CLIENTS * REQUESTS // 4):
            assert done.acquire(timeout=60), "the clients stopped getting answers"
        with server.client() as http:
            (served / "rules.yaml").write_text("rules:\n  - id: broken\n    when: {fact: nope}\n", encoding="utf-8")
            refused = http.post("/v1/rules/reload")
            shutil.copy(changed / "rules.yaml", served / "rules.yaml")
            accepted = http.post("/v1/rules/reload")
            reloaded_at = time.monotonic()
            in_flight = len(answers)
        for t in threads:
            t.join()
        if processes > 1:  # the other process follows within a second, requests or not
            _wait_for(lambda: "rules reloaded after another process of this service did" in server.log.read_text())
    finally:
        server.stop()
    assert refused.status_code == 422 and refused.json()["rules_version"] == old and refused.json()["problems"]
    assert accepted.status_code == 200 and accepted.json()["rules_version"] == new
    assert in_flight < CLIENTS * REQUESTS, "the reload came after the load"
    assert len(answers) == CLIENTS * REQUESTS
    assert {status for _, status, _ in answers} == {200}
    assert {a["rules_version"] for _, _, a in answers} == {old, new}
    later = [a["rules_version"] for (_, _, a), t in zip(answers, sent_at, strict=True) if t > reloaded_at]
    assert later and set(later) == {new}
    ids = []
    for i, _, answer in answers:
        assert answer.pop("header") == answer["rules_version"]
        ids.append(answer.pop("decision_id"))
        assert answer == expected[answer["rules_version"]][docs[i]["account"]]
    recorded = {e.decision_id: e.rules_version for e in audit.list_decisions(db)}
    assert len(set(ids)) == len(ids) and set(ids) == set(recorded)
    verified = subprocess.run([str(KAMRULES), "audit", "verify", "--audit-db", str(db)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log
    assert log.count("Started server process") == processes


@pytest.mark.parametrize("processes", [1, 2])
def test_sighup_reloads_the_rules_and_a_broken_folder_keeps_the_old_version(tmp_path, folders, processes):
    """SIGHUP checks the folder: a broken one is refused (logged with its problems), a good one is served
    (with two processes, SIGHUP goes to the parent and every process serves the new version)."""
    served, changed = folders
    server = Server(served, tmp_path / "audit.sqlite", tmp_path / "server.log", processes)
    try:
        with server.client() as http:
            old = http.get("/v1/rules").json()["rules_version"]
            (served / "facts.yaml").write_text("facts: {}\n", encoding="utf-8")
            server.proc.send_signal(signal.SIGHUP)
            _wait_for(lambda: "rules reload refused" in (tmp_path / "server.log").read_text())
            assert http.get("/v1/rules").json()["rules_version"] == old
            shutil.copytree(changed, served, dirs_exist_ok=True)
            server.proc.send_signal(signal.SIGHUP)
            _wait_for(lambda: http.get("/v1/rules").json()["rules_version"] != old)
            assert http.get("/v1/rules").json()["rules_version"] == load_ruleset(changed).version
        for _ in range(8):  # new connections, taken by either process
            with server.client() as http:
                assert http.get("/v1/rules").json()["rules_version"] == load_ruleset(changed).version
    finally:
        server.stop()
    assert "unknown fact" in (tmp_path / "server.log").read_text()


def _wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
