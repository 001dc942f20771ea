"""Every shipped event sink passes `EventSinkContract`, end to end through memory and SQLite stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.memory import MemorySink, MemoryStore
from adapters.webhook import WebhookSink
from tests.integration.webhook_receiver import Receiver, free_port
from workflow.events import DomainEvent
from workflow.ports import EventSink, Store
from workflow.testing import EventSinkContract

SECRET = "contract-secret-" + "c" * 24


class TestMemorySink(EventSinkContract):
    """The memory sink, fed through the memory store."""

    def make_sink(self) -> EventSink:
        return MemorySink()

    def delivered(self, sink: EventSink) -> list[DomainEvent]:
        assert isinstance(sink, MemorySink)
        return list(sink.events)

    def make_store(self) -> Store:
        return MemoryStore()


class TestMemorySinkOverSqlite(TestMemorySink):
    """The memory sink, fed through the SQL store on an SQLite file (event rows round-trip)."""

    @pytest.fixture(autouse=True)
    def _dir(self, tmp_path: Path) -> None:
        self.path = tmp_path / "feed.db"

    def make_store(self) -> Store:
        sql = pytest.importorskip("adapters.sql")
        store: Store = sql.SqlStore(f"sqlite:///{self.path}")
        return store


class TestWebhookSink(EventSinkContract):
    """The webhook sink against a local HTTP receiver that checks every signature."""

    @pytest.fixture(autouse=True)
    def _receiver(self) -> Iterator[None]:
        self.receiver = Receiver(SECRET).start()
        yield
        self.receiver.stop()

    def make_sink(self) -> EventSink:
        return WebhookSink(self.receiver.url, SECRET, timeout=2)

    def delivered(self, sink: EventSink) -> list[DomainEvent]:
        assert all(hit.signed for hit in self.receiver.hits)
        return list(self.receiver.acknowledged)

    def make_unavailable_sink(self) -> EventSink:
        return WebhookSink(f"http://127.0.0.1:{free_port()}/down", SECRET, timeout=0.5)

    def make_store(self) -> Store:
        return MemoryStore()
