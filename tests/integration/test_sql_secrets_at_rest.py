"""Nothing secret at rest: after whole flows, no table of the SQL store (nor the SQLite files)
holds a QR token, SMS code, PIN, full e-mail, full phone number or full identifier.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, NID2, fast_settings, people
from workflow import ActivationService, State
from workflow.domain import Delivery
from workflow.errors import PinMismatch, VerificationFailed, WorkflowError
from workflow.testing import FakeClock, code_from, payload_from

PINS = ("4821", "5930")


class Flows:
    """Runs whole flows over one store and keeps every secret the phone saw."""

    def __init__(self, store: SqlStore) -> None:
        self.clock, self.mailer, self.sms = FakeClock(), MemoryMailer(), MemorySms()
        self.svc = ActivationService(store=store, mailer=self.mailer, sms=self.sms,
                                     directory=StaticDirectory(people()), clock=self.clock,
                                     settings=fast_settings())

    def payload(self, aid: str) -> str:
        return payload_from([m for m in self.mailer.sent if f"a={aid}&" in m.text][-1])

    def code(self) -> str:
        return code_from(self.sms.sent[-1])

    def later(self) -> None:
        self.clock.advance(timedelta(seconds=61))  # past the resend cooldown

    def full(self, nid: str, *, detours: bool) -> str:
        """One activation to `active`, with resends, wrong answers and logins on the way."""
        svc = self.svc
        aid = svc.request(nid, device_id="phone-1").activation_id
        svc.dispatch()
        if detours:
            self.later()
            svc.resend_email(aid)
            svc.dispatch()
        svc.scan(aid, self.payload(aid))
        svc.dispatch()
        if detours:
            self.later()
            svc.resend_sms(aid)
            svc.dispatch()
            with pytest.raises(VerificationFailed):
                svc.verify_sms(aid, f"{(int(self.code()) + 1) % 1_000_000:06d}")
        svc.verify_sms(aid, self.code())
        svc.set_pin(aid, PINS[0])
        if detours:
            with pytest.raises(PinMismatch):
                svc.confirm_pin(aid, PINS[1])
            svc.set_pin(aid, PINS[0])
        svc.confirm_pin(aid, PINS[0])
        assert svc.authenticate(aid, PINS[0])
        if detours:
            with pytest.raises(VerificationFailed):
                svc.authenticate(aid, PINS[1])
        svc.dispatch()
        return aid

    def secrets(self) -> tuple[set[str], set[str]]:
        """(long secrets: tokens, contacts, identifiers; short ones: SMS codes and PINs)."""
        tokens = {payload_from(m).rsplit("t=", 1)[1] for m in self.mailer.sent
                  if "t=" in m.text and "ecps://" in m.text}
        contacts = {m.to for m in self.mailer.sent} | {s.to for s in self.sms.sent}
        contacts |= {p.email or "" for p in people()} | {p.phone or "" for p in people()}
        codes = {code_from(s) for s in self.sms.sent}
        assert len(tokens) >= 2
        assert len(codes) >= 2
        return tokens | contacts | {NID, NID2}, codes | set(PINS)


def _dump(url: str) -> tuple[str, bytes]:
    """Every row of every table, as text and as raw bytes."""
    engine = create_engine(url)
    parts: list[str] = []
    blobs: list[bytes] = []
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
            assert {"ecps_activation", "ecps_outbox", "ecps_audit", "ecps_meta"} <= set(tables)
            for table in tables:
                for row in conn.execute(text(f"SELECT * FROM {table}")):
                    for value in row:
                        if isinstance(value, (bytes, memoryview)):
                            blobs.append(bytes(value))
                            parts.append(bytes(value).hex())
                        else:
                            parts.append(str(value))
    finally:
        engine.dispose()
    return "\x1f".join(parts), b"\x1f".join(blobs)


def _standalone(secret: str) -> re.Pattern[str]:
    """A short secret written on its own (not a coincidence inside a hash or ciphertext)."""
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])")


@pytest.fixture
def flows(url: str) -> Iterator[Flows]:
    """Whole flows already run over the store: two activations of one identifier (the second
    replaces the first), one of another identifier cancelled, and refused requests."""
    with SqlStore(url) as store:
        f = Flows(store)
        first = f.full(NID, detours=True)
        second = f.full(NID, detours=False)
        assert f.svc.status(first).state == State.REVOKED
        assert f.svc.status(second).state == State.ACTIVE
        other = f.svc.request(NID2).activation_id
        f.svc.dispatch()
        f.svc.cancel(other)
        for bad in ("810100000009", "899700366240 ", NID2 + "0"):
            with pytest.raises(WorkflowError):
                f.svc.request(bad)
        yield f


def test_no_table_holds_a_secret_or_a_full_contact(url: str, flows: Flows) -> None:
    """A dump of every table holds no token, code, PIN, full e-mail, phone or identifier."""
    long_secrets, short_secrets = flows.secrets()
    dump, blobs = _dump(url)
    for secret in long_secrets:
        assert secret not in dump, "a token, contact or identifier is stored in clear"
        assert secret.encode() not in blobs
    for secret in short_secrets:
        assert not _standalone(secret).search(dump), "an SMS code or PIN is stored in clear"
    assert "ja****@domain.fr" in dump  # the masked forms are what is kept


def test_message_payloads_are_erased_once_done(url: str, flows: Flows) -> None:
    """Every delivered or dropped outbox message has its (encrypted) payload erased."""
    store = flows.svc.store
    messages = [m for a in store.list_activations() for m in store.outbox_of(a.id)]
    assert len(messages) >= 7
    assert {m.status for m in messages} <= {Delivery.SENT, Delivery.DROPPED}
    assert all(m.payload == b"" for m in messages)


def test_the_sqlite_files_hold_no_secret(tmp_path: Path) -> None:
    """The raw SQLite database and WAL files, free pages included, hold no secret in clear."""
    path = tmp_path / "ecps.db"
    with SqlStore(f"sqlite:///{path}") as store:
        f = Flows(store)
        f.full(NID, detours=True)
        long_secrets, short_secrets = f.secrets()
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("ecps.db*"))
    assert len(raw) > 10_000
    for secret in long_secrets:
        assert secret.encode() not in raw
    text_view = raw.decode("latin-1")
    for secret in short_secrets:
        assert not _standalone(secret).search(text_view)
