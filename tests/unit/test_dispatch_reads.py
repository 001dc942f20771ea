"""Delivering a message reads its activation once: the outcome is committed against the row read
to check that the message still fits, and read again only if the row changed meanwhile."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, fast_settings, people
from workflow import ActivationService, State
from workflow.domain import Activation, Delivery, MessageKind
from workflow.messages import Email
from workflow.ports import Store
from workflow.testing import FakeClock


class CountingMemory(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets: Counter[str] = Counter()

    def get(self, activation_id: str) -> Activation | None:
        self.gets[activation_id] += 1
        return super().get(activation_id)


class CountingSql(SqlStore):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gets: Counter[str] = Counter()

    def get(self, activation_id: str) -> Activation | None:
        self.gets[activation_id] += 1
        return super().get(activation_id)


class CancellingMailer(MemoryMailer):
    """Cancels the activation while its e-mail is being sent (the professional gave up)."""

    svc: ActivationService
    aid: str

    def send(self, email: Email) -> None:
        super().send(email)
        self.svc.cancel(self.aid)


def _service(store: Store, mailer: MemoryMailer | None = None) -> ActivationService:
    return ActivationService(store=store, mailer=mailer or MemoryMailer(), sms=MemorySms(),
                             directory=StaticDirectory(people()), clock=FakeClock(),
                             settings=fast_settings())


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_an_email_delivered_reads_its_activation_once(kind: str, tmp_path: Path) -> None:
    store = CountingMemory() if kind == "memory" else CountingSql(f"sqlite:///{tmp_path / 'db'}")
    svc = _service(store)
    aid = svc.request(NID).activation_id
    store.gets.clear()
    assert svc.dispatch() == 1
    assert store.gets == {aid: 1}
    assert svc.status(aid).state == State.EMAILED
    if isinstance(store, SqlStore):
        store.close()


def test_a_row_changed_during_the_delivery_is_read_again() -> None:
    """The activation is cancelled while its e-mail goes out: the outcome's first commit finds
    another version, the second reads the cancelled row, and records the e-mail as sent
    without moving the flow."""
    store = CountingMemory()
    mailer = CancellingMailer()
    svc = _service(store, mailer)
    mailer.svc, mailer.aid = svc, svc.request(NID).activation_id
    store.gets.clear()
    assert svc.dispatch() == 1
    assert store.gets[mailer.aid] == 3  # fits, the cancel's own read, the outcome's second try
    assert svc.status(mailer.aid).state == State.CANCELLED
    (email,) = [m for m in store.outbox_of(mailer.aid) if m.kind == MessageKind.ACTIVATION_EMAIL]
    assert email.status == Delivery.SENT
    assert [s.event for s in svc.history(mailer.aid).steps] == ["request", "cancel"]  # no email_sent
