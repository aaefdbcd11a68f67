"""`kamrules serve`: the decision service over HTTP."""

from __future__ import annotations

import os

import click

from kamrules.audit import log as audit
from kamrules.cli.options import audit_db_option, rules_option
from kamrules.render.service import started_text
from kamrules.serve import ServeConfig, Service, serve
from kamrules.serve.service import BATCH_CROSS_CHECK, MiB

TOKEN_VAR = "KAMRULES_TOKEN"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@rules_option
@audit_db_option
@click.option(
    "--workers",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker threads that evaluate requests, each with its own engine.",
)
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes on the one port, each with --workers threads (one per core is the most useful).",
)
@click.option(
    "--max-body", default=16, show_default=True, type=click.IntRange(1, 1024), help="Largest request body, in MiB."
)
@click.option(
    "--cross-check",
    default=BATCH_CROSS_CHECK,
    show_default=True,
    type=click.IntRange(0),
    help="Accounts of each batch that durable_rules decides too, to check the columnar plan (0: none).",
)
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request.")
def serve_cmd(
    host: str,
    port: int,
    rules_dir: str,
    audit_db: str | None,
    workers: int,
    processes: int,
    max_body: int,
    cross_check: int,
    access_log: bool,
) -> None:
    """Serve decisions over HTTP: evaluate, batch, explain, portfolio; every decision recorded (see docs/serve.md).

    With $KAMRULES_TOKEN set, every endpoint but /healthz and /readyz needs 'Authorization: Bearer <token>'.
    SIGHUP or POST /v1/rules/reload reloads the rules folder after checking it.
    """
    token = os.environ.get(TOKEN_VAR) or None
    path = audit.db_path(audit_db)
    service = Service(ServeConfig(rules_dir, path, workers, max_body * MiB, token, cross_check))
    url = f"http://{host}:{port}"
    click.echo(started_text(rules_dir, service.rules.current.version, str(path), url, token is not None), err=True)
    serve(service, host, port, access_log, processes)
