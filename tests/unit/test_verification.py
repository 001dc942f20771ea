"""Audit verification replays each trail through the definition and holds every row to it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore
from tests.conftest import NID, NID2, fast_settings, memory_service
from workflow import ActivationService, State, audit
from workflow.domain import AuditEvent
from workflow.errors import WorkflowError
from workflow.security import Keyring
from workflow.testing import FakeClock, code_from, payload_from
from workflow.verification import Checkpoint, make_checkpoint, verify_checkpoint, verify_trails

World = tuple[ActivationService, MemoryStore, MemoryMailer, MemorySms]


def _active(svc: ActivationService, mailer: MemoryMailer, sms: MemorySms, nid: str = NID) -> str:
    aid = svc.request(nid).activation_id
    svc.dispatch()
    svc.scan(aid, payload_from(mailer.sent[-1]))
    svc.dispatch()
    svc.verify_sms(aid, code_from(sms.sent[-1]))
    svc.set_pin(aid, "4821")
    svc.confirm_pin(aid, "4821")
    svc.authenticate(aid, "4821")
    return aid


def _locked(svc: ActivationService, mailer: MemoryMailer, sms: MemorySms) -> str:
    aid = svc.request(NID2).activation_id
    svc.dispatch()
    svc.scan(aid, payload_from(mailer.sent[-1]))
    svc.dispatch()
    for _ in range(svc.settings.max_sms_attempts):
        with pytest.raises(WorkflowError):
            svc.verify_sms(aid, "000000" if code_from(sms.sent[-1]) != "000000" else "111111")
    assert svc.status(aid).state == State.LOCKED
    return aid


@pytest.fixture
def world() -> tuple[ActivationService, MemoryStore, MemoryMailer, MemorySms]:
    store, mailer, sms = MemoryStore(), MemoryMailer(), MemorySms()
    return memory_service(FakeClock(), store=store, mailer=mailer, sms=sms), store, mailer, sms


def test_whole_flows_verify_intact(world: World) -> None:
    """An active credential and a locked flow replay to exactly their rows."""
    svc, store, mailer, sms = world
    _active(svc, mailer, sms)
    _locked(svc, mailer, sms)
    found = verify_trails(store, svc.keys, svc.engine)
    assert found.findings == []
    assert found.intact
    assert found.activations == 2
    assert found.events == sum(len(store.audit_trail(i)) for i in store.activation_ids(None, 10))


def test_a_row_edited_by_hand_is_named(world: World) -> None:
    """A locked activation set back to `scanned` with no attempts disagrees with its trail."""
    svc, store, mailer, sms = world
    aid = _locked(svc, mailer, sms)
    store._activations[aid] = replace(store._activations[aid], state=State.SCANNED, sms_attempts=0)
    found = verify_trails(store, svc.keys, svc.engine)
    assert [(f.activation_id, f.problem) for f in found.findings] == [
        (aid, "the row says scanned, its trail says locked")]


def test_an_edited_counter_is_named(world: World) -> None:
    """A counter set back by hand, state untouched, is reported with both values."""
    svc, store, mailer, sms = world
    aid = _active(svc, mailer, sms)
    store._activations[aid] = replace(store._activations[aid], pin_mismatches=2)
    problems = [f.problem for f in verify_trails(store, svc.keys, svc.engine).findings]
    assert problems == ["the row's pin_mismatches is 2, its trail gives 0"]


def test_a_forged_but_chained_step_is_refused_by_the_definition(
        world: World) -> None:
    """A step chained with the right key that the definition would never take is reported."""
    svc, store, _, _ = world
    aid = svc.request(NID).activation_id
    svc.dispatch()
    a = store._activations[aid]
    forged = audit.chain(svc.keys, a.audit_head, activation_id=aid, subject=a.subject,
                         seq=a.audit_seq + 1, at=svc.now(), actor="app", action="confirm_pin",
                         outcome="ok", source="emailed", dest="active")
    store._audit[aid].append(forged)
    store._activations[aid] = replace(a, state=State.ACTIVE, audit_seq=forged.seq, audit_head=forged.hash)
    problems = [f.problem for f in verify_trails(store, svc.keys, svc.engine).findings]
    assert problems == [f"event {forged.seq}: the definition takes confirm_pin (ok) from emailed to "
                        "a refusal, the trail says active"]


def test_a_removed_newest_event_is_named(world: World) -> None:
    """Cutting the newest event of a trail shows against the count the row keeps."""
    svc, store, mailer, sms = world
    aid = _active(svc, mailer, sms)
    store._audit[aid].pop()
    problems = [f.problem for f in verify_trails(store, svc.keys, svc.engine).findings]
    assert len(problems) == 1
    assert "events were removed or added" in problems[0]


def test_another_key_is_reported_as_such(world: World) -> None:
    """Verified with another server key, no event matches: the database was sealed with another key."""
    svc, store, mailer, sms = world
    _active(svc, mailer, sms)
    other = Keyring(fast_settings(secret_key="another-key-" + "z" * 32))
    found = verify_trails(store, other, svc.engine)
    assert found.wrong_key
    assert not found.intact


def test_every_activation_is_verified_page_by_page_and_limit_only_when_asked() -> None:
    """More activations than a page are all verified; `limit` stops at that many."""
    store, mailer = MemoryStore(), MemoryMailer()
    clock = FakeClock()
    svc = memory_service(clock, store=store, mailer=mailer, max_requests=1000)
    for _ in range(620):
        svc.request(NID)
    assert verify_trails(store, svc.keys, svc.engine).activations == 620
    assert verify_trails(store, svc.keys, svc.engine, limit=501).activations == 501
    seen: list[int] = []
    verify_trails(store, svc.keys, svc.engine, limit=3, progress=seen.append)
    assert seen == [1, 1, 1]


def test_a_checkpoint_proves_nothing_before_it_was_removed(world: World) -> None:
    """Deleting a whole activation with its trail, or a refusal, shows against a checkpoint."""
    svc, store, mailer, sms = world
    clock = svc.clock
    assert isinstance(clock, FakeClock)
    kept = _active(svc, mailer, sms)
    gone = _active(svc, mailer, sms, NID2)
    with pytest.raises(WorkflowError):
        svc.request("899700366241")  # refused: audited under the "" stream
    clock.advance(timedelta(minutes=5))
    checkpoint = make_checkpoint(store, svc.keys, svc.now())
    assert (checkpoint.activations, checkpoint.events) == (2, sum(
        len(store.audit_trail(i)) for i in ("", kept, gone)))
    svc.authenticate(kept, "4821")  # later events do not matter
    assert verify_checkpoint(store, svc.keys, checkpoint) == []
    refusals = list(store._audit[""])
    store._audit[""].clear()
    at = checkpoint.at.isoformat(timespec="seconds")
    assert verify_checkpoint(store, svc.keys, checkpoint) == [
        f"the database holds {checkpoint.events - len(refusals)} event(s) recorded up to {at}, "
        f"where the checkpoint counted {checkpoint.events}"]
    store._audit[""].extend(refusals)
    del store._activations[gone]
    del store._audit[gone]
    assert verify_checkpoint(store, svc.keys, checkpoint)[0].startswith("1 activation(s) recorded before")


def test_a_checkpoint_read_back_and_altered_is_refused(world: World) -> None:
    """A checkpoint survives JSON; one with a changed count fails its signature."""
    svc, store, mailer, sms = world
    _active(svc, mailer, sms)
    svc.clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
    made = make_checkpoint(store, svc.keys, svc.now())
    checkpoint = Checkpoint.from_dict(json.loads(json.dumps(made.as_dict())))
    assert verify_checkpoint(store, svc.keys, checkpoint) == []
    forged = replace(checkpoint, events=checkpoint.events - 1)
    assert verify_checkpoint(store, svc.keys, forged) == [
        "the checkpoint's signature does not match this server's key (altered, or another key)"]
    with pytest.raises(ValueError, match="not a checkpoint"):
        Checkpoint.from_dict({"at": "yesterday"})


def test_history_numbers_changed_outside_are_named(world: World) -> None:
    """The `step` column is no part of an event's hash: two steps swapped, or one hidden (set to
    0), are named by their numbering against the chain's order."""
    svc, store, mailer, sms = world
    aid = _active(svc, mailer, sms)
    trail = store._audit[aid]
    moved = [i for i, e in enumerate(trail) if e.step in (2, 4)]
    swapped = list(trail)
    swapped[moved[0]], swapped[moved[1]] = (replace(trail[moved[0]], step=4),
                                            replace(trail[moved[1]], step=2))
    for edited in (swapped, [replace(e, step=0) if e.step == 3 else e for e in trail]):
        store._audit[aid] = edited
        problems = [f.problem for f in verify_trails(store, svc.keys, svc.engine).findings]
        assert problems == ["the history numbers of its events are not 1, 2, ... in the order of "
                            "its chain: steps were renumbered, hidden or reordered outside the service"]
    store._audit[aid] = trail
    assert verify_trails(store, svc.keys, svc.engine).intact


class _LiveStore(MemoryStore):
    """A store where the service commits `during` once, between a row's read and its trail's."""

    during: Callable[[], object] | None = None

    def audit_trail(self, activation_id: str) -> list[AuditEvent]:
        step, self.during = self.during, None
        if step is not None:
            step()
        return super().audit_trail(activation_id)


def test_a_trail_that_grew_while_it_was_read_is_read_again_with_its_row() -> None:
    """A login committed between the row's read and its trail's is no tampering: the row is
    read again, with its trail, and the whole is intact."""
    store, mailer, sms = _LiveStore(), MemoryMailer(), MemorySms()
    svc = memory_service(FakeClock(), store=store, mailer=mailer, sms=sms)
    aid = _active(svc, mailer, sms)
    store.during = lambda: svc.authenticate(aid, "4821")
    found = verify_trails(store, svc.keys, svc.engine, only=aid)
    assert store.during is None  # the commit did land between the two reads
    assert found.findings == []


def test_events_the_row_never_recorded_are_still_named() -> None:
    """A trail longer than its row records while the row does not move: events were added."""
    store, mailer, sms = _LiveStore(), MemoryMailer(), MemorySms()
    svc = memory_service(FakeClock(), store=store, mailer=mailer, sms=sms)
    aid = _active(svc, mailer, sms)
    a = store._activations[aid]
    store._activations[aid] = replace(a, audit_seq=a.audit_seq - 1)
    found = verify_trails(store, svc.keys, svc.engine, only=aid)
    assert any("events were removed or added" in f.problem for f in found.findings)


def test_an_event_removed_from_the_middle_of_a_trail_is_named_where_it_was(world: World) -> None:
    """Removing event 5 of a locked flow breaks the numbering and the link at event 6, and the
    count the row keeps: each is named."""
    svc, store, mailer, sms = world
    aid = _locked(svc, mailer, sms)
    store._audit[aid] = [e for e in store._audit[aid] if e.seq != 5]
    problems = [f.problem for f in verify_trails(store, svc.keys, svc.engine).findings]
    assert "event 6: expected sequence number 5" in problems
    assert "event 6: does not follow the previous event" in problems
    assert any("events were removed or added" in p for p in problems)
