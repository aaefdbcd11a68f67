"""Requests/s and latency of `kamrules serve` on loopback: single evaluations, then batches of accounts.

    .venv/bin/python benchmarks/serve_bench.py [--clients 16] [--requests 4000] [--batches 20] [--batch-size 1000]
        [--processes 1] [--workers 4] [--wrk SECONDS] [--skip-batches] [--detail compact|full]

Starts the server in a subprocess on a free loopback port with a fresh decision log, sends the
requests from --clients threads (each request is timed on its own), and prints requests/s and p50/p99.
Bounded: at most --requests single evaluations and --batches batches, and --seconds per phase.
With --wrk S the single evaluations come from `wrk` instead (apt-get install wrk: one C thread, --clients
connections, S seconds, the bodies in turn from a Lua script), a client that takes far less CPU.
The clients share the machine's cores with the server: the figures are for both together.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
KAMRULES = Path(sys.executable).parent / "kamrules"


def account_documents() -> list[dict]:
    """The example accounts as JSON documents (dates as text)."""
    docs = []
    for path in sorted((ROOT / "examples" / "accounts").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["facts"] = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in doc["facts"].items()}
        docs.append(doc)
    return docs


def varied_accounts(count: int, seed: int) -> list[dict]:
    """``count`` accounts made from the examples, each with its own id and its own values (seeded).

    A batch of the same few accounts over and over would flatter the service (the same firings, the same
    answer parts): each number here is the example's times 0.5-1.5, each yes/no and choice is redrawn one
    time in four, each date moved up to a year, every value within its fact's declared range.
    """
    rng = random.Random(seed)
    facts = yaml.safe_load((ROOT / "rules" / "facts.yaml").read_text(encoding="utf-8"))["facts"]
    docs, out = account_documents(), []
    for i in range(count):
        doc = docs[i % len(docs)]
        varied = {}
        for name, value in doc["facts"].items():
            fact = facts[name]
            low, high = map(float, fact.get("range", (-math.inf, math.inf)))  # PyYAML reads 1.0e12 as text
            if fact["type"] in ("number", "integer") and rng.random() < 0.9:
                value = min(max(value * rng.uniform(0.5, 1.5), low), high)
                value = round(value) if fact["type"] == "integer" else round(value, 4)
            elif fact["type"] == "boolean" and rng.random() < 0.25:
                value = rng.random() < 0.5
            elif fact["type"] == "enum" and rng.random() < 0.25:
                value = rng.choice(fact["values"])
            elif fact["type"] == "date":
                value = (dt.date.fromisoformat(value) + dt.timedelta(days=rng.randint(-365, 365))).isoformat()
            varied[name] = value
        out.append({"account": f"{doc['account']}-{seed}-{i}", "name": doc.get("name", ""), "facts": varied})
    return out


def batch_bodies(count: int, size: int) -> list[bytes]:
    """``count`` different batches of ``size`` varied accounts, as request bodies."""
    return [json.dumps({"accounts": varied_accounts(size, seed)}).encode() for seed in range(count)]


def start(folder: Path, workers: int, processes: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(KAMRULES), "serve", "--port", str(port), "--workers", str(workers), "--audit-db", str(folder / "a.db")]
    cmd += ["--processes", str(processes)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=open(folder / "server.log", "wb"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start: see " + str(folder / "server.log"))


def load(url: str, path: str, bodies: list[bytes], clients: int, seconds: float) -> tuple[list[float], float]:
    """Send every body once from ``clients`` threads; latencies in seconds and the wall time."""
    latencies: list[float] = []
    lock = threading.Lock()
    todo = iter(range(len(bodies)))
    deadline = time.monotonic() + seconds

    host, port = url.removeprefix("http://").split(":")

    def client() -> None:
        # http.client on one kept-alive connection: a tenth of httpx's CPU per request, which matters
        # when the clients share the server's two cores.
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            while time.monotonic() < deadline:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                conn.request("POST", path, bodies[i], {"content-type": "application/json"})
                r = conn.getresponse()
                text = r.read()
                dt = time.perf_counter() - t0
                if r.status != 200:
                    raise SystemExit(f"{path}: HTTP {r.status}: {text[:300]!r}")
                with lock:
                    latencies.append(dt)
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(latencies), time.perf_counter() - t0


WRK_SCRIPT = """
local requests, i = {}, 0
init = function(args)
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("POST", args[2], {["Content-Type"] = "application/json"}, line)
  end
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
"""


def wrk_load(url: str, path: str, bodies: list[bytes], connections: int, seconds: float, folder: Path) -> str:
    """wrk's run against ``path``: requests/s and latency percentiles, as wrk measured them."""
    (folder / "bodies.txt").write_bytes(b"\n".join(bodies) + b"\n")  # one JSON document a line
    (folder / "post.lua").write_text(WRK_SCRIPT, encoding="utf-8")
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(folder / "post.lua")]
    out = subprocess.run([*cmd, url, "--", str(folder / "bodies.txt"), path], capture_output=True, text=True)
    text = out.stdout
    if out.returncode != 0 or "Non-2xx" in text or "Socket errors" in text:
        raise SystemExit(f"wrk: {out.returncode}\n{text}\n{out.stderr}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    n = re.search(r"(\d+) requests in ([\d.]+\w+)", text)
    p50, p99 = (re.search(rf"\s{q}%\s+(\S+)", text) for q in (50, 99))
    assert rate and n and p50 and p99, text
    return f"{n[1]} requests in {n[2]}: {float(rate[1]):,.1f} requests/s; p50 {p50[1]}, p99 {p99[1]}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children still running, so far (Linux /proc)."""
    total = 0.0
    for p in [pid, *children(pid)]:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def children(pid: int) -> list[int]:
    """The server processes a `--processes N` parent started (and their own children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *children(int(child))]
    return found


def report(what: str, latencies: list[float], wall: float, per_request: int, cpu: float, client_cpu: float) -> None:
    n = len(latencies)
    p50, p99 = latencies[n // 2], latencies[min(n - 1, int(n * 0.99))]
    print(
        f"{what}: {n} requests in {wall:.1f} s: {n / wall:,.1f} requests/s, {n * per_request / wall:,.0f} accounts/s; "
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; CPU per request: server {cpu / n * 1000:.2f} ms, "
        f"clients {client_cpu / n * 1000:.2f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4, help="the server's worker threads (in each process)")
    ap.add_argument("--processes", type=int, default=1, help="the server's processes")
    ap.add_argument("--wrk", type=float, default=0, help="single evaluations from wrk for this many seconds")
    ap.add_argument("--seconds", type=float, default=60.0, help="time limit of each phase")
    ap.add_argument("--skip-batches", action="store_true", help="single evaluations only")
    ap.add_argument("--detail", choices=("compact", "full"), default="compact", help="the batches' answer")
    args = ap.parse_args()
    docs = account_documents()
    singles = [json.dumps(docs[i % len(docs)]).encode() for i in range(args.requests)]
    batches = batch_bodies(min(args.batches, 20), args.batch_size)
    batch_run = [batches[i % len(batches)] for i in range(args.batches)]
    batch_path = f"/v1/evaluate/batch?detail={args.detail}"
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(Path(tmp), args.workers, args.processes)
        try:
            load(url, "/v1/evaluate", singles[:200], args.clients, args.seconds)  # warm up every worker's engine
            if args.wrk:
                if shutil.which("wrk") is None:
                    raise SystemExit("--wrk: no wrk on this machine (apt-get install wrk)")
                cpu = cpu_seconds(proc.pid)
                line = wrk_load(url, "/v1/evaluate", singles[: len(docs)], args.clients, args.wrk, Path(tmp))
                cpu = cpu_seconds(proc.pid) - cpu
                print(f"single (wrk, {args.clients} connections): {line}; server CPU {cpu:.1f} s")
            for what, path, bodies, clients, size in (
                ("single", "/v1/evaluate", singles, args.clients, 1),
                (f"batch of {args.batch_size}", batch_path, batch_run, 4, args.batch_size),
            ):
                if (size > 1 and args.skip_batches) or (size == 1 and args.wrk):
                    continue
                cpu, client_cpu = cpu_seconds(proc.pid), time.process_time()
                latencies, wall = load(url, path, bodies, min(clients, args.clients), args.seconds)
                cpu, client_cpu = cpu_seconds(proc.pid) - cpu, time.process_time() - client_cpu
                report(what, latencies, wall, size, cpu, client_cpu)
        finally:
            proc.terminate()
            proc.wait(60)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"server --processes {args.processes} --workers {args.workers}"
    )


if __name__ == "__main__":
    main()
