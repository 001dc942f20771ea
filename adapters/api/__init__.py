"""The HTTP API (`ecps serve`): `create_app(service)` builds the FastAPI app over a service."""

from adapters.api.answers import error_response
from adapters.api.app import create_app
from adapters.api.idempotency import MemoryIdempotency, SqlIdempotency
from adapters.api.replay import MemoryReplay, SqlReplay
from adapters.api.settings import HttpSettings

__all__ = ["HttpSettings", "MemoryIdempotency", "MemoryReplay", "SqlIdempotency", "SqlReplay",
           "create_app", "error_response"]
