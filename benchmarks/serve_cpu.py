"""The service's CPU per single evaluation, in process: the ASGI application called directly, no HTTP, no client.

    .venv/bin/python benchmarks/serve_cpu.py [--requests 3000] [--concurrency 16] [--runs 3] [--path /v1/evaluate]

Builds the service as `kamrules serve` does (a fresh decision log, --workers 4, the server's garbage
collector settings), then sends the 14 example accounts in turn as POST requests straight into the
application from --concurrency tasks of one event loop: what uvicorn would hand it, without its HTTP
parsing. Prints the process CPU time per request (every thread: the event loop, the workers, the log's
writer) and the wall time, for each run. CPU time is the figure that depends least on other work on the
machine; the server's HTTP layer (uvicorn, httptools) comes on top of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from serve_bench import ROOT, account_documents

from kamrules.serve import ServeConfig, Service, create_app
from kamrules.serve.run import collect_less


def scope(path: str, query: str, body: bytes) -> dict[str, Any]:
    """An HTTP request's ASGI scope, as uvicorn gives it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def post(app: Any, path: str, query: str, body: bytes) -> int:
    """One request through the application; its status."""
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict[str, Any]:
        return incoming.pop() if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope(path, query, body), receive, send)
    return status


async def load(app: Any, path: str, query: str, bodies: list[bytes], concurrency: int) -> list[int]:
    """Every body posted once, from ``concurrency`` tasks."""
    queue = list(reversed(bodies))
    statuses: list[int] = []

    async def task() -> None:
        while queue:
            statuses.append(await post(app, path, query, queue.pop()))

    await asyncio.gather(*(task() for _ in range(concurrency)))
    return statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--path", default="/v1/evaluate")
    ap.add_argument("--query", default="as_of=2026-09-30")
    args = ap.parse_args()
    docs = account_documents()
    bodies = [json.dumps(docs[i % len(docs)]).encode() for i in range(args.requests)]
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(ServeConfig(str(ROOT / "rules"), Path(tmp) / "a.db", workers=4))
        app = create_app(service)
        collect_less()

        async def runs() -> None:
            await load(app, args.path, args.query, bodies[:200], args.concurrency)  # engines built, warmed
            for _ in range(args.runs):
                cpu, wall = time.process_time(), time.perf_counter()
                statuses = await load(app, args.path, args.query, bodies, args.concurrency)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                assert set(statuses) == {200}, set(statuses)
                n = len(statuses)
                print(f"{n} requests: CPU {cpu / n * 1000:.3f} ms a request, wall {wall / n * 1000:.3f} ms a request")

        asyncio.run(runs())
        service.close()
    print(f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
