"""The shapes of the service's error documents, for its OpenAPI description (/docs, /openapi.json)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ProblemOut(BaseModel):
    """One problem of the input, as `--format json` reports it on the command line."""

    file: str
    line: int
    column: int
    severity: str
    code: str
    message: str
    expected: str | None
    found: str | None
    help: str | None


class ProblemsOut(BaseModel):
    """Invalid input (422), an unknown decision (404) or a refused reload: every problem found."""

    model_config = ConfigDict(extra="allow")

    error: str
    exit_code: int
    problems: list[ProblemOut]
    rules_version: str


class ErrorOut(BaseModel):
    """Any other error: no token (401), a body over the limit (413), a bug (500, with the id in the server's log)."""

    model_config = ConfigDict(extra="allow")

    error: str
    message: str
    rules_version: str
