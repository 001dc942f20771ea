"""What an operator reads on an activation's page for the usual support tickets."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from adapters.memory import MemoryMailer, MemorySms
from tests.conftest import NID, Driver, memory_service
from tests.e2e.console_client import console_client, sign_in
from workflow import ActivationService
from workflow.errors import DeliveryFailed, VerificationFailed
from workflow.messages import Email
from workflow.testing import FakeClock


def _page(svc: ActivationService, aid: str) -> str:
    """The activation's page as text, one space between cells."""
    c = sign_in(console_client(svc))
    page = re.sub(r"<svg.*?</svg>", "", c.get(f"/console/activations/{aid}").text, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_my_code_expired_shows_until_when_the_code_was_good() -> None:
    """The SMS code's validity is among the deadlines, and the refused late code in the timeline."""
    clock, mailer, sms = FakeClock(), MemoryMailer(), MemorySms()
    svc = memory_service(clock, mailer=mailer, sms=sms)
    d = Driver(svc, mailer, sms)
    aid = d.reach("scanned")
    assert "sms_code 2026-01-05 09:05:00 UTC — 5 min 0 s left" in _page(svc, aid)
    clock.advance(timedelta(minutes=6))
    with pytest.raises(VerificationFailed):
        svc.verify_sms(aid, d.code())
    text = _page(svc, aid)
    assert "sms_code 2026-01-05 09:05:00 UTC — passed 1 min 0 s ago" in text
    assert "verify_sms refused app scanned → scanned VerificationFailed: the SMS code has expired" in text


class Refusing(MemoryMailer):
    """A relay that refuses every message for now."""

    def send(self, message: Email) -> None:
        raise DeliveryFailed("the relay refused", transient=True)


def test_i_never_got_the_email_shows_the_attempts_and_the_next_try() -> None:
    """A message the relay refuses is pending with its attempts, last error and next try."""
    clock = FakeClock()
    svc = memory_service(clock, mailer=Refusing())
    aid = svc.request(NID).activation_id
    svc.dispatch()
    message = svc.store.outbox_of(aid)[0]
    text = _page(svc, aid)
    row = f"activation_email email 1 pending 1 DeliveryFailed {message.created_at:%Y-%m-%d %H:%M:%S}"
    assert f"{row} {message.due_at:%Y-%m-%d %H:%M:%S}" in text
    assert message.due_at > message.created_at
