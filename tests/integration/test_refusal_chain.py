"""Refused requests are chained per pseudonymised identifier and verified, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from adapters.memory import MemoryMailer, MemorySms, StaticDirectory
from adapters.sql import SqlStore
from tests.conftest import NID, fast_settings, people
from tests.e2e.conftest import Ecps, ecps_here, workdir  # noqa: F401 (fixtures used here)
from tests.integration.people import national_id
from workflow import ActivationService, audit
from workflow.errors import NotEligible, TooManyRequests, WorkflowError
from workflow.testing import FakeClock
from workflow.verification import make_checkpoint, verify_checkpoint, verify_trails

KEY = "refusal-chain-key-" + "r" * 24
UNKNOWN = national_id(999)  # well-formed, absent from the directory


@pytest.fixture
def svc(url: str) -> Iterator[ActivationService]:
    """A service on a fresh database of each kind, with a fake clock."""
    store = SqlStore(url)
    yield ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(),
                            directory=StaticDirectory(people()), clock=FakeClock(),
                            settings=fast_settings(secret_key=KEY))
    store.close()


def _refuse(svc: ActivationService, nid: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(WorkflowError):
            svc.request(nid)


def _refusals(svc: ActivationService) -> list[audit.AuditEvent]:
    return svc.store.audit_trail("")


def _sql(svc: ActivationService, statement: str, **values: object) -> None:
    store = svc.store
    assert isinstance(store, SqlStore)
    with store.engine.begin() as conn:
        conn.execute(text(statement), values)


def _problems(svc: ActivationService) -> list[tuple[str, str]]:
    found = verify_trails(svc.store, svc.keys, svc.engine)
    return [(f.activation_id, f.problem) for f in found.findings]


def _world(svc: ActivationService) -> str:
    """Five accepted requests of NID, then three refused by the limit and two unknown; its subject."""
    for _ in range(5):
        svc.request(NID)
    _refuse(svc, NID, 3)
    _refuse(svc, UNKNOWN, 2)
    return svc.keys.pseudonym(NID)


def test_each_subjects_refusals_form_a_chain_of_their_own_that_verifies(svc: ActivationService) -> None:
    """Numbered from 1 per subject, each linked to the one before; the whole database is intact."""
    subject = _world(svc)
    mine = [e for e in _refusals(svc) if e.subject == subject]
    assert [e.seq for e in mine] == [1, 2, 3]
    assert [e.prev_hash for e in mine] == ["", mine[0].hash, mine[1].hash]
    other = [e for e in _refusals(svc) if e.subject == svc.keys.pseudonym(UNKNOWN)]
    assert [e.seq for e in other] == [1, 2]
    assert _problems(svc) == []


def test_an_edited_a_deleted_and_a_renumbered_refusal_are_each_named(svc: ActivationService) -> None:
    """Changing a reason, removing the middle refusal or swapping two numbers: each is reported."""
    subject = _world(svc)
    name = f"refusals:{subject[:12]}"
    _sql(svc, "UPDATE ecps_audit SET reason = 'nothing happened' WHERE activation_id = '' "
              "AND subject = :s AND seq = 1", s=subject)
    assert _problems(svc) == [(name, "refused request 1: content does not match its hash")]
    _sql(svc, "DELETE FROM ecps_audit WHERE activation_id = '' AND subject = :s AND seq = 2", s=subject)
    assert {(name, "refused request 3: expected sequence number 2"),
            (name, "refused request 3: does not follow the previous one")} <= set(_problems(svc))
    unknown = svc.keys.pseudonym(UNKNOWN)
    for a, b in ((1, 100), (2, 1), (100, 2)):  # swap the numbers of the two refusals
        _sql(svc, "UPDATE ecps_audit SET seq = :b WHERE activation_id = '' AND subject = :s AND seq = :a",
             s=unknown, a=a, b=b)
    assert {p for who, p in _problems(svc) if who == f"refusals:{unknown[:12]}"} >= {
        "refused request 1: content does not match its hash",
        "refused request 2: content does not match its hash"}


def test_a_deleted_newest_refusal_is_caught_against_a_checkpoint(svc: ActivationService) -> None:
    """The chain cannot show its own cut end; the checkpoint taken before does."""
    subject = _world(svc)
    clock = svc.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(minutes=5))
    checkpoint = make_checkpoint(svc.store, svc.keys, svc.now())
    assert verify_checkpoint(svc.store, svc.keys, checkpoint) == []
    _sql(svc, "DELETE FROM ecps_audit WHERE activation_id = '' AND subject = :s AND seq = 3", s=subject)
    assert _problems(svc) == []
    assert verify_checkpoint(svc.store, svc.keys, checkpoint) != []


def test_unchained_refusals_of_an_older_database_verify_alone_and_new_ones_chain_from_1(
        svc: ActivationService) -> None:
    """Legacy refusals (seq 0) pass by their own hash, an edited one is caught; new ones start at 1."""
    subject = svc.keys.pseudonym(NID)
    old = audit.chain(svc.keys, "", activation_id="", subject=subject, seq=0,
                      at=svc.now() - timedelta(days=3), actor="app", action="request",
                      outcome="refused", reason="TooManyRequests")
    from workflow.domain import Change

    svc.store.commit(Change(audit=(old, old)))  # as the release before chaining wrote them
    assert _problems(svc) == []
    _refuse(svc, UNKNOWN, 1)
    with pytest.raises(NotEligible):
        svc.request(UNKNOWN)
    assert [e.seq for e in _refusals(svc)] == [0, 0, 1, 2]
    assert _problems(svc) == []
    _sql(svc, "UPDATE ecps_audit SET reason = 'edited' WHERE seq = 0 AND n = (SELECT MIN(n) FROM "
              "ecps_audit WHERE seq = 0)")
    assert _problems(svc) == [(f"refusals:{subject[:12]}",
                               "refused request 0: content does not match its hash")]


def _refused_at_once(services: list[ActivationService], times: int) -> list[BaseException]:
    """One thread per service given, started together, each refused `times` requests of NID;
    what was raised besides `TooManyRequests`."""
    barrier, errors = threading.Barrier(len(services)), list[BaseException]()

    def refused(service: ActivationService) -> None:
        barrier.wait()
        for _ in range(times):
            try:
                service.request(NID)
            except TooManyRequests:
                continue
            except BaseException as exc:  # reported by the caller
                errors.append(exc)

    threads = [threading.Thread(target=refused, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_refusals_of_one_identifier_all_land_in_one_unbroken_chain(
        svc: ActivationService) -> None:
    """Twelve threads refused at once for one identifier: twelve refusals numbered 1 to 12."""
    for _ in range(5):
        svc.request(NID)
    assert _refused_at_once([svc] * 12, 1) == []
    assert sorted(e.seq for e in _refusals(svc)) == list(range(1, 13))
    assert _problems(svc) == []


def test_a_flood_of_refusals_from_two_services_is_audited_whole(svc: ActivationService, url: str) -> None:
    """Two services on one database (as two processes would be: each its own locks), 15 threads
    each refused 10 times for one identifier: all 300 refusals chained 1 to 300, none dropped
    (under this contention a refusal lost its race 64 times in a row and went unaudited)."""
    for _ in range(5):
        svc.request(NID)
    other_store = SqlStore(url)
    other = ActivationService(store=other_store, mailer=MemoryMailer(), sms=MemorySms(),
                              directory=StaticDirectory(people()), clock=svc.clock,
                              settings=fast_settings(secret_key=KEY))
    errors = _refused_at_once([svc] * 15 + [other] * 15, 10)
    other_store.close()
    assert errors == []
    assert sorted(e.seq for e in _refusals(svc)) == list(range(1, 301))
    assert _problems(svc) == []


def test_ecps_audit_verify_names_an_edited_refusal(url: str, svc: ActivationService,
                                                   ecps_here: Ecps) -> None:  # noqa: F811 (the fixture)
    """The command exits 1 and lists the subject's refusals among what was tampered with."""
    subject = _world(svc)

    def verify() -> subprocess.CompletedProcess[str]:
        return ecps_here("audit", "verify", "--json", "--database", url,
                         env={"ECPS_SECRET_KEY": KEY})

    intact = verify()
    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout)["events"] >= 5
    _sql(svc, "UPDATE ecps_audit SET actor = 'operator' WHERE activation_id = '' AND subject = :s "
              "AND seq = 2", s=subject)
    done = verify()
    assert done.returncode == 1
    assert json.loads(done.stdout)["tampered"] == {
        f"refusals:{subject[:12]}": ["refused request 2: content does not match its hash"]}
