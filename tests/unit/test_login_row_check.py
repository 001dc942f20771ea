"""A login's row checked against its audit trail by the verifier of the activations."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from adapters.memory import MemoryMailer, MemoryPush, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, Driver, fast_settings, people
from workflow import ActivationService
from workflow.testing import FakeClock
from workflow.verification import disagreements


def test_a_login_row_whose_validity_its_trail_does_not_give_is_named() -> None:
    """The row's `expires_at` moved an hour on: the problem names the slot and both times; the row
    as stored has none."""
    clock, mailer, sms = FakeClock(), MemoryMailer(), MemorySms()
    svc = ActivationService(store=MemoryStore(), mailer=mailer, sms=sms, push=MemoryPush(),
                            directory=StaticDirectory(people()), clock=clock, settings=fast_settings())
    Driver(svc, mailer, sms).reach("active")
    g = svc.logins.store.get_login(svc.start_login(NID, client_id="portal", client_name="Portal",
                                                   binding_message="A7-3F").login_id)
    assert g is not None
    assert g.expires_at is not None
    engine = svc.logins.engine
    assert disagreements(svc.store, svc.keys, engine, g) == []
    later = g.expires_at + timedelta(hours=1)
    assert disagreements(svc.store, svc.keys, engine, replace(g, expires_at=later)) == [
        f"the row's expires_at is {later.isoformat(timespec='seconds')}, its trail gives "
        f"{g.expires_at.isoformat(timespec='seconds')}"]
