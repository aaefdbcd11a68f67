"""The decision service over HTTP (`kamrules serve`): rules, decision log, API and server."""

from kamrules.serve.app import create_app
from kamrules.serve.run import serve
from kamrules.serve.service import ServeConfig, Service

__all__ = ["ServeConfig", "Service", "create_app", "serve"]
