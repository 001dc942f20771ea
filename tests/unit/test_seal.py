"""The service trusts the trail, not the row: a row edited outside it is refused, naming it."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.memory import MemoryMailer, MemoryPush, MemorySms, MemoryStore, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, NID2, Driver, fast_settings, memory_service, people
from workflow import ActivationService, State
from workflow.errors import StorageError, WorkflowError, WrongServerKey
from workflow.messages import DirectoryEntry
from workflow.seal import Seals, intact
from workflow.security import luhn_ok
from workflow.testing import FakeClock, code_from, payload_from
from workflow.verification import seal_legacy, verify_trails

World = tuple[ActivationService, MemoryStore, MemoryMailer, MemorySms]


class OutsideStore(MemoryStore):
    """A memory store taken as if its rows lived outside the service (as a database's do)."""

    in_process = False


@pytest.fixture
def world() -> World:
    store, mailer, sms = OutsideStore(), MemoryMailer(), MemorySms()
    return memory_service(FakeClock(), store=store, mailer=mailer, sms=sms), store, mailer, sms


def _locked(world: World) -> str:
    svc, _, mailer, sms = world
    aid = svc.request(NID).activation_id
    svc.dispatch()
    svc.scan(aid, payload_from(mailer.sent[-1]))
    svc.dispatch()
    wrong = "000000" if code_from(sms.sent[-1]) != "000000" else "111111"
    for _ in range(svc.settings.max_sms_attempts):
        with pytest.raises(WorkflowError):
            svc.verify_sms(aid, wrong)
    assert svc.status(aid).state == State.LOCKED
    return aid


def test_a_locked_row_set_back_by_hand_is_refused(world: World) -> None:
    """Back to `scanned` with no attempts, outside the service: the next code is refused, nothing counted."""
    svc, store, _, sms = world
    aid = _locked(world)
    store._activations[aid] = replace(store._activations[aid], state=State.SCANNED, sms_attempts=0)
    trail = len(store.audit_trail(aid))
    with pytest.raises(StorageError, match=f"activation {aid} does not match the head of its audit trail"):
        svc.verify_sms(aid, code_from(sms.sent[-1]))
    assert store._activations[aid].state == State.SCANNED  # untouched: nothing was committed
    assert len(store.audit_trail(aid)) == trail
    with pytest.raises(StorageError):
        svc.status(aid)


def test_a_digest_swapped_by_hand_is_refused(world: World) -> None:
    """A PIN hash replaced in the row (the trail cannot show it) breaks the seal."""
    svc, store, _, _ = world
    aid = svc.request(NID).activation_id
    store._activations[aid] = replace(store._activations[aid], pin_hash="$argon2id$forged")
    with pytest.raises(StorageError, match=aid):
        svc.cancel(aid)


def test_events_cut_from_the_end_of_a_trail_are_refused(world: World) -> None:
    """The newest audit event removed: the row's head no longer matches its trail."""
    svc, store, _, _ = world
    aid = svc.request(NID).activation_id
    store._audit[aid].pop()
    with pytest.raises(StorageError, match=aid):
        svc.cancel(aid)


def test_an_unsealed_row_is_refused_until_its_trail_vouches_for_it_and_it_is_sealed(world: World) -> None:
    """An empty seal is never trusted by the service (a seal removed outside would let any edit
    through); `seal_legacy` seals the rows whose trails vouch for them, and only those."""
    svc, store, _, _ = world
    aid = svc.request(NID2).activation_id
    store._activations[aid] = replace(store._activations[aid], seal="")
    with pytest.raises(StorageError, match=f"activation {aid} has no seal"):
        svc.cancel(aid)
    other = _locked(world)
    store._activations[other] = replace(store._activations[other], seal="", state=State.SCANNED)
    sealed, left = seal_legacy(store, svc.keys, svc.engine)
    assert sealed == 1
    assert {f.activation_id for f in left} == {other}
    assert "the row says scanned, its trail says locked" in [f.problem for f in left]
    svc.cancel(aid)
    assert store._activations[aid].state == State.CANCELLED
    with pytest.raises(StorageError, match=other):
        svc.resend_sms(other)
    assert seal_legacy(store, svc.keys, svc.engine)[0] == 0  # nothing more to seal


def test_verify_names_a_row_whose_seal_fails_or_is_gone(world: World) -> None:
    """A column the trail does not vouch for (the device key, the contacts), edited or with its
    seal removed: audit verification names the row, as the service refuses it."""
    svc, store, _, _ = world
    edited, unsealed = (svc.request(n).activation_id for n in (NID, NID2))
    assert verify_trails(store, svc.keys, svc.engine).intact
    store._activations[edited] = replace(store._activations[edited], device_thumbprint="x" * 43)
    store._activations[unsealed] = replace(store._activations[unsealed], seal="",
                                           device_thumbprint="y" * 43)
    found = verify_trails(store, svc.keys, svc.engine)
    assert [(f.activation_id, f.problem.split(":")[0]) for f in found.findings] == sorted([
        (edited, "the row does not match its seal"), (unsealed, "the row has no seal")])


def test_the_sweeper_and_the_dispatcher_leave_an_edited_row_alone(world: World) -> None:
    """expire_due skips it and a delivery does not move it (nor reseal it)."""
    svc, store, _, _ = world
    aid = svc.request(NID).activation_id
    edited = replace(store._activations[aid], email_resends=0, sms_attempts=3)
    store._activations[aid] = edited
    assert svc.dispatch() == 1  # the e-mail leaves; the flow is not moved to `emailed`
    assert store._activations[aid] == edited
    svc.clock.advance(svc.settings.flow_validity)  # type: ignore[attr-defined]
    assert svc.expire_due() == 0
    assert store._activations[aid] == edited


def test_rows_in_the_services_own_memory_are_neither_sealed_nor_checked() -> None:
    """MemoryStore's rows cannot be edited outside the service: no seal is kept for them."""
    store = MemoryStore()
    svc = memory_service(FakeClock(), store=store)
    aid = svc.request(NID).activation_id
    assert store._activations[aid].seal == ""
    svc.cancel(aid)


def test_closing_the_service_closes_a_store_that_holds_connections() -> None:
    """`ActivationService.close` calls the store's `close` when it has one, and is harmless
    for a store without (`MemoryStore`)."""

    class Closing(MemoryStore):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    store = Closing()
    memory_service(FakeClock(), store=store).close()
    assert store.closed == 1
    memory_service(FakeClock(), store=MemoryStore()).close()


def test_a_row_edited_in_sqlite_is_refused(tmp_path: Path) -> None:
    """UPDATE ecps_activation by hand on SQLite: the next event is refused, naming the activation."""
    store = SqlStore(f"sqlite:///{tmp_path}/e.sqlite3")
    svc = memory_service(FakeClock(), store=store)
    aid = svc.request(NID).activation_id
    with sqlite3.connect(tmp_path / "e.sqlite3") as db:
        db.execute("UPDATE ecps_activation SET email_resends = 0, sms_attempts = 4 WHERE id = ?", (aid,))
    with pytest.raises(StorageError, match=aid) as refused:
        svc.resend_email(aid)
    assert not isinstance(refused.value, WrongServerKey)  # the key is right: the row was edited
    store.close()


def test_a_database_sealed_with_another_key_is_told_as_such(tmp_path: Path) -> None:
    """Another server key: every call says so (not "changed outside"), and changes nothing."""
    store = SqlStore(f"sqlite:///{tmp_path}/e.sqlite3")
    aid = memory_service(FakeClock(), store=store).request(NID).activation_id
    other = memory_service(FakeClock(), store=store, secret_key="another-key-" + "o" * 32)
    before = store.get(aid)
    for call in (other.status, other.cancel, other.resend_email):
        with pytest.raises(WrongServerKey, match=f"activation {aid} and its audit trail were "
                                                 "sealed with another server key"):
            call(aid)
    assert store.get(aid) == before
    store.close()


def test_a_login_sealed_with_another_key_is_told_as_such(tmp_path: Path) -> None:
    """A login read with another server key: its calls say so (not "changed outside"), and change
    nothing; a login row edited with the right key is still refused as changed outside."""
    store = SqlStore(f"sqlite:///{tmp_path}/e.sqlite3")
    mailer, sms, clock = MemoryMailer(), MemorySms(), FakeClock()
    svc = ActivationService(store=store, mailer=mailer, sms=sms, push=MemoryPush(),
                            directory=StaticDirectory(people()), clock=clock, settings=fast_settings())
    Driver(svc, mailer, sms).reach("active")
    lid = svc.start_login(NID, client_id="portal", client_name="Portal",
                          binding_message="A7-3F").login_id
    other = ActivationService(store=store, mailer=mailer, sms=sms, push=MemoryPush(),
                              directory=StaticDirectory(people()), clock=clock,
                              settings=fast_settings(secret_key="another-key-" + "o" * 32))
    before = store.get_login(lid)
    for call in (other.login_result, other.deny_login):
        with pytest.raises(WrongServerKey, match=f"login {lid} and its audit trail were sealed "
                                                 "with another server key"):
            call(lid)
    assert store.get_login(lid) == before
    with sqlite3.connect(tmp_path / "e.sqlite3") as db:
        db.execute("UPDATE ecps_login SET binding_message = 'B0-00' WHERE id = ?", (lid,))
    with pytest.raises(StorageError, match=f"login {lid} was changed outside") as refused:
        svc.login_result(lid)
    assert not isinstance(refused.value, WrongServerKey)
    store.close()


def test_the_sweeper_reaches_the_flows_behind_edited_rows() -> None:
    """Edited rows due first are left alone and read past: the flows due after them expire."""
    nids = [NID, NID2, "899700366257", "899700366265"]
    assert all(luhn_ok(n[1:]) for n in nids)
    store, clock = OutsideStore(), FakeClock()
    svc = ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(),
                            directory=StaticDirectory([DirectoryEntry(n, f"p{i}@domain.fr", "0612345678")
                                                       for i, n in enumerate(nids)]),
                            clock=clock, settings=fast_settings())
    aids = []
    for nid in nids:
        aids.append(svc.request(nid).activation_id)
        clock.advance(timedelta(seconds=1))
    for aid in aids[:2]:  # the two due first
        store._activations[aid] = replace(store._activations[aid], email_resends=1)
    clock.advance(svc.settings.flow_validity)
    assert svc.expire_due(batch=2) == 2
    assert [store._activations[a].state for a in aids] == [State.REQUESTED] * 2 + [State.EXPIRED] * 2


def test_seals_remember_what_they_sealed_and_check_every_other_row(world: World) -> None:
    """A row read back as it was sealed is intact without a digest; a field edited, or the seal
    of another row put in its place, is digested and refused; at most `remembered` are kept."""
    svc, store, _, _ = world
    first, second = (svc.request(n).activation_id for n in (NID, NID2))
    seals = Seals(svc.keys, remembered=1)
    digests = 0
    real = svc.keys.digest

    def counted(purpose: str, *parts: str) -> str:
        nonlocal digests
        digests += 1
        return real(purpose, *parts)

    svc.keys.digest = counted  # type: ignore[method-assign]
    row = store._activations[first]
    assert seals.intact(row)
    assert digests == 1  # not known yet: digested
    assert seals.intact(replace(row))
    assert digests == 1  # known: no digest
    assert not seals.intact(replace(row, sms_attempts=row.sms_attempts + 1))
    assert not seals.intact(replace(row, seal=store._activations[second].seal))
    assert digests == 3
    assert seals.intact(store._activations[second])
    assert digests == 4  # `first` is forgotten
    assert seals.intact(row)
    assert digests == 5
    edited = replace(row, masked_phone="+33******99")
    seals.sealed(edited)
    assert intact(svc.keys, edited)
    assert seals.intact(replace(edited))
    assert digests == 7
