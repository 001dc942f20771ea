"""The baseline of the HTTP benchmark: a bare FastAPI app whose POST validates a small body and commits once.

Run by uvicorn with the settings `ecps serve` uses (one process, 127.0.0.1, no access log):
`python -m benchmarks.bare_app --port 8001 --database sqlite:///bare.db`.
"""

from __future__ import annotations

import argparse
import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine, event, insert


class RequestBody(BaseModel):
    """The same body as `POST /activations`."""

    model_config = ConfigDict(extra="forbid")
    national_id: str = Field(max_length=64)
    device_id: str = Field("", max_length=128)
    device_key: dict[str, str] = Field(default_factory=dict, max_length=8)


class Created(BaseModel):
    """What the bare app answers."""

    activation_id: str


METADATA = MetaData()
ROWS = Table("bare_activation", METADATA, Column("id", String(32), primary_key=True),
             Column("national_id", String(64), nullable=False),
             Column("device_id", String(128), nullable=False),
             Column("created_at", DateTime(timezone=True), nullable=False))


def create_app(database_url: str, pool_size: int = 5) -> FastAPI:
    """The bare app over `database_url` (SQLite in WAL like the store, or PostgreSQL)."""
    sqlite = database_url.startswith("sqlite")
    engine = create_engine(database_url, pool_size=pool_size, max_overflow=2 * pool_size,
                           connect_args={"check_same_thread": False} if sqlite else {})
    if sqlite:
        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _: object) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()
    METADATA.create_all(engine)
    app = FastAPI(title="bare")

    @app.post("/activations", status_code=201, response_model=Created)
    def create(body: RequestBody) -> Created:
        aid = secrets.token_hex(10)
        with engine.begin() as conn:
            conn.execute(insert(ROWS).values(id=aid, national_id=body.national_id,
                                             device_id=body.device_id, created_at=datetime.now(UTC)))
        return Created(activation_id=aid)

    return app


def main() -> None:
    """Serve the bare app on 127.0.0.1 as `ecps serve` serves the API."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action="store_true", help="one line per request")
    args = parser.parse_args()
    uvicorn.run(create_app(args.database), host="127.0.0.1", port=args.port, log_level=args.log_level,
                access_log=args.access_log)


if __name__ == "__main__":
    main()
