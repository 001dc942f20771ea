"""`StoreContract`: the tests every `Store` passes; subclass it with your store's factory.

    class TestMyStore(StoreContract):
        def make_store(self): return MyStore(...)      # a fresh, empty store
        def close_store(self, store): store.close()      # optional clean-up

A subclass that needs pytest fixtures (a temporary path, a database URL) can instead
override the `store` fixture and yield its store.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import MISSING, replace
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflow.definition import DEFINITION, State
from workflow.domain import (
    Activation,
    AuditEvent,
    Change,
    Channel,
    Delivery,
    MessageKind,
    OutboxMessage,
    Step,
    Turn,
    Write,
)
from workflow.errors import ConcurrencyConflict
from workflow.ports import Store
from workflow.testing.requirements import F, requirement

__all__ = ["StoreContract", "commit_steps", "sample_activation", "sample_audit", "sample_message",
           "sample_steps"]

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)
_SERIAL = itertools.count(1)  # ids stay unique across the examples that share one store


def sample_activation(aid: str = "act-1", *, subject: str = "subject-a", state: State = State.EMAILED,
                      created: datetime = T0, **fields: object) -> Activation:
    """A plausible stored activation (no secret, no contact in clear)."""
    a = Activation(id=aid, subject=subject, state=state, created_at=created,
                   flow_deadline=created + timedelta(hours=24), contacts=b"\x00sealed\xff" * 4,
                   masked_email="ja****@domain.fr", masked_phone="06****78", device_id="phone-1",
                   step_deadline=created + timedelta(hours=1), token_digest="d" * 64,
                   email_generation=1, last_email_at=created, step_count=1)
    for name, value in fields.items():
        setattr(a, name, value)
    return a


def sample_message(mid: str = "msg-1", *, aid: str = "act-1", due: datetime = T0,
                   created: datetime = T0, **fields: object) -> OutboxMessage:
    """A pending activation e-mail for `aid`, due at `due`."""
    m = OutboxMessage(id=mid, activation_id=aid, kind=MessageKind.ACTIVATION_EMAIL,
                      channel=Channel.EMAIL, generation=1, payload=b"\x01ciphertext\x00",
                      created_at=created, due_at=due)
    for name, value in fields.items():
        setattr(m, name, value)
    return m


def sample_audit(aid: str = "act-1", seq: int = 1, *, at: datetime = T0,
                 action: str = "request") -> AuditEvent:
    """An audit event of `aid` numbered `seq`."""
    return AuditEvent(aid, "subject-a", seq, at, "app", action, "ok", "", "", "requested",
                      f"prev-{seq - 1}", f"hash-{seq}")


_PATH: tuple[tuple[str, State | None, State], ...] = (
    ("request", None, State.REQUESTED), ("email_sent", State.REQUESTED, State.EMAILED),
    ("scan", State.EMAILED, State.SCANNED), ("verify_sms", State.SCANNED, State.SMS_VERIFIED),
    ("set_pin", State.SMS_VERIFIED, State.PIN_SET), ("confirm_pin", State.PIN_SET, State.ACTIVE))


def sample_steps(count: int) -> list[Step]:
    """`count` steps along the main path, a second and a microsecond apart from `T0`."""
    return [Step(*_PATH[i % len(_PATH)], at=T0 + timedelta(seconds=i, microseconds=i)) for i in range(count)]


def commit_steps(store: Store, aid: str, steps: list[Step], per_commit: int = 3) -> None:
    """Insert `aid`, then append `steps` a few per commit, each commit ending with a refusal."""
    a = sample_activation(aid, step_count=0, audit_seq=0)
    store.commit(Change((Write(a, None),)))
    for start in range(0, len(steps), per_commit):
        expected = a.version
        a = replace(a, version=a.version + 1)
        events = []
        for s in steps[start:start + per_commit]:
            a.audit_seq += 1
            a.step_count += 1
            events.append(replace(sample_audit(aid, a.audit_seq, at=s.at, action=s.event),
                                  source=str(s.source or ""), dest=str(s.dest), step=a.step_count))
        a.audit_seq += 1
        events.append(replace(sample_audit(aid, a.audit_seq, action="scan"), outcome="refused",
                              source="emailed", dest="emailed"))
        store.commit(Change((Write(a, expected),), audit=tuple(events)))


def _insert(store: Store, *activations: Activation) -> None:
    store.commit(Change(tuple(Write(a, None) for a in activations)))


def _update(store: Store, a: Activation, **fields: object) -> Activation:
    expected = a.version
    changed = replace(a, version=a.version + 1)
    for name, value in fields.items():
        setattr(changed, name, value)
    store.commit(Change((Write(changed, expected),)))
    return changed


def _texts() -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8", exclude_characters="\x00"),
                   max_size=40)


def _times() -> st.SearchStrategy[datetime]:
    return st.datetimes(datetime(2000, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC))


PORT_RULES: dict[str, list[tuple[str, str]]] = {}
"""Each contract test's citations: the `Store` method (or "Store") and the sentence of its docstring."""


def port_rule(method: str, sentence: str) -> Callable[[F], F]:
    """Cite the sentence of `Store.<method>`'s docstring (or the class's) that a contract test enforces."""

    def cite(test: F) -> F:
        PORT_RULES.setdefault(getattr(test, "__name__", ""), []).insert(0, (method, sentence))
        return test

    return cite


class StoreContract:
    """What the service relies on from a store; pytest runs it in each `Test...` subclass."""

    def make_store(self) -> Store:
        """A fresh, empty store."""
        raise NotImplementedError

    def close_store(self, store: Store) -> None:
        """Release what `make_store` opened (calls `close()` when the store has one)."""
        close: Callable[[], None] | None = getattr(store, "close", None)
        if close is not None:
            close()

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """The store under test."""
        store = self.make_store()
        yield store
        self.close_store(store)

    # -- basics -------------------------------------------------------------------------------

    @requirement("REQ-4-STORE-QUERIES")
    @port_rule('Store', 'Durable state: activations, outbox and audit trail.')
    def test_the_store_implements_the_port(self, store: Store) -> None:
        """The store is a `Store` (it has every method of the port)."""
        assert isinstance(store, Store)

    @requirement("REQ-4-STORE-QUERIES")
    @port_rule('get', 'or None when it was never stored')
    def test_an_unknown_id_reads_as_none(self, store: Store) -> None:
        """`get` of an id never stored is None, and the other reads are empty."""
        assert store.get("nope") is None
        assert store.outbox_of("nope") == []
        assert store.audit_trail("nope") == []
        assert store.list_activations() == []

    @requirement("REQ-4-STORE-ROUND-TRIP", "REQ-3-HISTORY")
    @port_rule('Store', 'Every field of an activation reads back equal to what was written.')
    def test_an_activation_reads_back_equal_field_by_field(self, store: Store) -> None:
        """Every field reads back as it was written, each set to other than its default (a
        store that drops a field would read it back as its default)."""
        a = sample_activation(
            state=State.PIN_SET, version=3, code_digest="c" * 64,
            code_issued_at=T0 + timedelta(seconds=1), sms_generation=2,
            last_sms_at=T0 + timedelta(seconds=2), pin_candidate="$argon2id$x",
            pin_hash="$argon2id$y", email_resends=1, sms_resends=2, sms_attempts=3,
            pin_mismatches=1, login_failures=2, audit_seq=7, audit_head="h" * 64,
            closed_reason="cancelled by the professional", device_thumbprint="t" * 43,
            step_count=5, seal="s" * 64)
        defaults = {f.name: f.default for f in dataclass_fields(Activation)
                    if f.default is not MISSING}
        assert not [n for n, d in defaults.items() if getattr(a, n) == d]  # this test's own check
        _insert(store, a)
        got = store.get(a.id)
        assert got is not None
        assert [n for n in defaults if getattr(got, n) != getattr(a, n)] == []
        assert got == a

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.differing_executors])
    @requirement("REQ-4-STORE-ROUND-TRIP", "REQ-6-UTC")
    @given(data=st.data())
    @port_rule('Store', 'Every field of an activation reads back equal to what was written.')
    def test_any_activation_round_trips(self, store: Store, data: st.DataObject) -> None:
        """Arbitrary text, bytes, counters and UTC times (to the microsecond) read back equal."""
        created = data.draw(_times())
        a = sample_activation(
            f"act-{next(_SERIAL)}", subject=data.draw(_texts()), created=created,
            state=data.draw(st.sampled_from(list(State))), contacts=data.draw(st.binary(max_size=64)),
            device_id=data.draw(_texts()), masked_email=data.draw(_texts()),
            step_deadline=data.draw(st.none() | _times()),
            sms_attempts=data.draw(st.integers(0, 1000)), version=data.draw(st.integers(0, 10**6)))
        _insert(store, a)
        got = store.get(a.id)
        assert got == a
        assert got is not None
        times = [got.created_at, got.flow_deadline, got.step_deadline]
        assert all(t.utcoffset() == timedelta(0) for t in times if t is not None)

    @requirement("REQ-4-STORE-COPIES")
    @port_rule('Store',
               'Every read returns a copy the caller may change freely, and changing what was '
               'committed afterwards changes nothing stored.')
    def test_reads_are_copies(self, store: Store) -> None:
        """Changing what a read returned, or what was committed, changes nothing stored."""
        a = sample_activation()
        _insert(store, a)
        a.state, a.sms_attempts = State.LOCKED, 4
        a.step_count = 2
        got = store.get("act-1")
        assert got is not None
        got.version, got.masked_email = 99, "changed"
        got.step_count = 0
        again = store.get("act-1")
        assert again == sample_activation()
        (found,) = store.find("subject-a", {State.EMAILED})
        found.step_count = 0
        assert store.get("act-1") == sample_activation()
        message = sample_message()
        store.commit(Change(outbox=(message,)))
        message.attempts = 5
        (claimed,) = store.claim_outbox(T0, 10, LEASE)
        claimed.status = Delivery.SENT
        assert store.outbox_of("act-1")[0].attempts == 0
        assert store.outbox_of("act-1")[0].status == Delivery.PENDING
        (listed,) = store.list_activations()
        listed.step_count = 0
        (queued,) = store.outbox_of("act-1")
        queued.attempts = 7
        assert store.get("act-1") == sample_activation()
        assert store.outbox_of("act-1")[0].attempts == 0

    @requirement("REQ-6-UTC")
    @port_rule('Store', 'Stored times are timezone-aware UTC, exact to the microsecond.')
    def test_times_come_back_aware_utc_and_exact(self, store: Store) -> None:
        """A UTC time reads back aware, in UTC, to the microsecond."""
        created = datetime(2026, 3, 1, 10, 30, 15, 987654, tzinfo=UTC)
        _insert(store, sample_activation(created=created))
        got = store.get("act-1")
        assert got is not None
        assert got.created_at == created
        assert got.created_at.utcoffset() == timedelta(0)
        assert got.created_at.microsecond == 987654
        assert store.requests_since("subject-a", created) == [created]

    @requirement("REQ-6-UTC")
    @port_rule('Store', 'Stored times are timezone-aware UTC, exact to the microsecond.')
    def test_every_time_read_back_is_in_utc(self, store: Store) -> None:
        """Every time of every record read back, from every read, is aware and in UTC (aware
        times compare equal across zones, so equality alone would not show another zone)."""
        at = datetime(2026, 3, 1, 10, 30, 15, 987654, tzinfo=UTC)
        a = sample_activation(created=at, last_email_at=at, code_issued_at=at, last_sms_at=at)
        _insert(store, a)
        commit_steps(store, "act-2", sample_steps(2))
        store.commit(Change(outbox=(sample_message(created=at, due=at),)))
        read: list[object] = [store.get("act-1"), *store.list_activations(),
                              *store.find("subject-a", list(State)), *store.audit_trail("act-2"),
                              *store.steps("act-2"), *store.outbox_of("act-1")]
        times = [(type(r).__name__, f.name, getattr(r, f.name)) for r in read
                 if r is not None for f in dataclass_fields(r)  # type: ignore[arg-type]
                 if isinstance(getattr(r, f.name), datetime)]
        times += [("requests_since", "", t) for t in store.requests_since("subject-a", at)]
        assert len(times) >= 20
        elsewhere = [(kind, name, t.isoformat()) for kind, name, t in times
                     if t.tzinfo is None or t.utcoffset() != timedelta(0)]
        assert elsewhere == [], f"times read back in another zone than UTC: {elsewhere}"

    # -- atomic commit and compare-and-set ----------------------------------------------------

    @requirement("REQ-6-ATOMIC")
    @port_rule('commit', 'Apply `change` whole, or raise and apply nothing.')
    def test_an_empty_change_commits(self, store: Store) -> None:
        """Committing nothing is allowed and changes nothing."""
        store.commit(Change())
        assert store.list_activations() == []

    @requirement("REQ-6-CAS")
    @port_rule('commit',
               'Each `Write` with an `expected_version` succeeds only if the stored version '
               'still equals it, else nothing of the change is applied and `ConcurrencyConflict`'
               ' is raised.')
    def test_compare_and_set_on_the_version(self, store: Store) -> None:
        """An update with the stored version applies; one with an older version conflicts."""
        a = sample_activation()
        _insert(store, a)
        b = _update(store, a, state=State.SCANNED, sms_attempts=1)
        assert store.get("act-1") == b
        stale = replace(a, version=a.version + 1, state=State.CANCELLED)
        with pytest.raises(ConcurrencyConflict):
            store.commit(Change((Write(stale, a.version),)))
        assert store.get("act-1") == b

    @requirement("REQ-4-STORE-ROUND-TRIP", "REQ-6-CAS")
    @port_rule('commit', 'An update saves every field.')
    def test_an_update_may_change_every_field(self, store: Store) -> None:
        """Compare-and-set saves all fields, even those the service never changes."""
        a = sample_activation()
        _insert(store, a)
        b = _update(store, a, subject="subject-z", created_at=T0 - timedelta(days=1),
                    contacts=b"other", device_id="phone-2", masked_email="pa****@clinique.fr")
        assert store.get("act-1") == b
        assert store.find("subject-z", {State.EMAILED}) == [b]
        assert store.find("subject-a", {State.EMAILED}) == []
        stale = replace(a, version=1, subject="subject-y")
        with pytest.raises(ConcurrencyConflict):
            store.commit(Change((Write(stale, 0),)))
        assert store.get("act-1") == b

    @requirement("REQ-6-CAS")
    @port_rule('commit', 'An update of an id never stored is a conflict, not an insert.')
    def test_an_update_of_a_missing_activation_conflicts(self, store: Store) -> None:
        """Compare-and-set on an id never stored is a conflict, not an insert."""
        with pytest.raises(ConcurrencyConflict):
            store.commit(Change((Write(sample_activation(version=1), 0),)))
        assert store.get("act-1") is None

    @requirement("REQ-6-CAS", "REQ-6-ATOMIC")
    @port_rule('commit', 'An insert of an existing id is a conflict.')
    def test_inserting_an_existing_id_conflicts_and_applies_nothing(self, store: Store) -> None:
        """A second insert of one id conflicts; its outbox and audit rows are not applied."""
        _insert(store, sample_activation())
        again = sample_activation(state=State.SCANNED)
        with pytest.raises(ConcurrencyConflict):
            store.commit(Change((Write(again, None),), (sample_message(),), (sample_audit(),)))
        assert store.get("act-1") == sample_activation()
        assert store.outbox_of("act-1") == []
        assert store.audit_trail("act-1") == []

    @requirement("REQ-6-ATOMIC")
    @port_rule('commit', 'Apply `change` whole, or raise and apply nothing.')
    def test_a_change_applies_whole_or_not_at_all(self, store: Store) -> None:
        """One stale write in a change leaves every other write, message and event unapplied."""
        a, b = sample_activation("act-a"), sample_activation("act-b", subject="subject-b")
        _insert(store, a, b)
        _update(store, b, sms_attempts=1)  # b moves on: the change below holds a stale b
        new_a = replace(a, version=1, state=State.SCANNED)
        stale_b = replace(b, version=1, state=State.CANCELLED)
        fresh = sample_activation("act-c")
        change = Change((Write(new_a, 0), Write(fresh, None), Write(stale_b, 0)),
                        (sample_message(aid="act-a"),), (sample_audit("act-a", 1),))
        with pytest.raises(ConcurrencyConflict):
            store.commit(change)
        assert store.get("act-a") == a
        assert store.get("act-c") is None
        assert store.outbox_of("act-a") == []
        assert store.audit_trail("act-a") == []
        store.commit(Change((Write(new_a, 0), Write(fresh, None))))
        assert store.get("act-a") == new_a
        assert store.get("act-c") == fresh

    @requirement("REQ-6-NO-LOST-UPDATE", "REQ-6-CAS")
    @port_rule('commit', 'Of concurrent writers from one version, exactly one wins.')
    def test_concurrent_writers_of_one_version_have_one_winner(self, store: Store) -> None:
        """Eight threads compare-and-set from the same version: one wins, seven conflict."""
        a = sample_activation()
        _insert(store, a)
        barrier, outcomes = threading.Barrier(8), []

        def attempt(n: int) -> None:
            mine = replace(a, version=1, sms_attempts=n)
            barrier.wait()
            try:
                store.commit(Change((Write(mine, 0),), audit=(sample_audit(seq=n),)))
                outcomes.append(("won", n))
            except ConcurrencyConflict:
                outcomes.append(("lost", n))

        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(1, 9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [n for kind, n in outcomes if kind == "won"]
        assert len(winners) == 1
        assert len(outcomes) == 8
        stored = store.get("act-1")
        assert stored is not None
        assert (stored.version, stored.sms_attempts) == (1, winners[0])
        assert [e.seq for e in store.audit_trail("act-1")] == winners

    # -- lookups --------------------------------------------------------------------------------

    @requirement("REQ-4-STORE-QUERIES")
    @port_rule('find', 'whose state is in `states`, and no other')
    def test_find_filters_by_subject_and_state(self, store: Store) -> None:
        """`find` returns the subject's activations in the given states, and nothing else."""
        _insert(store, sample_activation("a1"), sample_activation("a2", state=State.ACTIVE),
                sample_activation("a3", state=State.CANCELLED),
                sample_activation("b1", subject="subject-b"))
        assert {a.id for a in store.find("subject-a", DEFINITION.in_flight)} == {"a1"}
        assert {a.id for a in store.find("subject-a", {State.ACTIVE, State.CANCELLED})} == {"a2", "a3"}
        assert store.find("subject-a", set()) == []
        assert store.find("subject-c", set(State)) == []

    @requirement("REQ-3-REQUESTS")
    @port_rule('requests_since', 'created at or after `since` (inclusive), oldest first')
    def test_requests_since_counts_from_the_bound_inclusive(self, store: Store) -> None:
        """Creation times at or after `since`, oldest first, of that subject only."""
        times = [T0 + timedelta(hours=h) for h in (5, 1, 3)]
        _insert(store, *(sample_activation(f"a{i}", created=t) for i, t in enumerate(times)),
                sample_activation("b", subject="subject-b", created=T0 + timedelta(hours=4)))
        assert store.requests_since("subject-a", T0 + timedelta(hours=1)) == sorted(times)
        assert store.requests_since("subject-a", T0 + timedelta(hours=3)) == sorted(times)[1:]
        assert store.requests_since("subject-a", T0 + timedelta(hours=6)) == []
        close = T0 + timedelta(hours=3, microseconds=1)  # the bound is exact to the microsecond
        assert store.requests_since("subject-a", close) == sorted(times)[2:]
        assert store.requests_since("subject-a", close - timedelta(microseconds=2)) == sorted(times)[1:]

    @requirement("REQ-4-STORE-QUERIES")
    @port_rule('list_activations', 'newest first, at most `limit`')
    def test_list_activations_newest_first(self, store: Store) -> None:
        """The most recently created come first, up to `limit`."""
        _insert(store, *(sample_activation(f"a{i}", created=T0 + timedelta(minutes=i))
                         for i in range(5)))
        assert [a.id for a in store.list_activations(3)] == ["a4", "a3", "a2"]
        assert len(store.list_activations()) == 5

    @requirement("REQ-4-STORE-QUERIES")
    @port_rule('list_activations', 'only those below it in that order, ties by id: a next page')
    def test_list_activations_pages_from_a_cursor(self, store: Store) -> None:
        """Pages from `before` follow one another with no row lost or repeated, ties included."""
        _insert(store, *(sample_activation(f"a{i}", created=T0 + timedelta(minutes=i // 2))
                         for i in range(7)))
        seen: list[str] = []
        before = None
        for _ in range(4):  # 7 rows in pages of 3, then an empty page: a store that ignores the
            page = store.list_activations(3, before=before)  # cursor fails here, not loops
            seen += [a.id for a in page]
            if not page:
                break
            before = (page[-1].created_at, page[-1].id)
        assert seen == ["a6", "a5", "a4", "a3", "a2", "a1", "a0"]

    # -- expiry -------------------------------------------------------------------------------

    @requirement("REQ-3-DEADLINES")
    @port_rule('due_for_expiry',
               'Ids of up to `limit` activations in flight whose deadline is at or before `now`,'
               ' soonest first.')
    @port_rule('due_for_expiry',
               "An activation's deadline is the earlier of its step deadline and its flow "
               'deadline (`Activation.due_at()`); a terminal activation is never due.')
    @port_rule('due_for_expiry', 'The bound is inclusive: a deadline equal to `now` is due.')
    def test_due_for_expiry_is_inclusive_ordered_and_limited(self, store: Store) -> None:
        """Activations whose deadline is at or before `now`, soonest first, at most `limit`."""
        soon = sample_activation("soon", step_deadline=T0 + timedelta(minutes=5))
        now_due = sample_activation("now", step_deadline=T0 + timedelta(minutes=10))
        later = sample_activation("later", step_deadline=T0 + timedelta(minutes=11))
        flow = sample_activation("flow", step_deadline=None, flow_deadline=T0 + timedelta(minutes=7))
        done = sample_activation("done", state=State.ACTIVE, step_deadline=None,
                                 flow_deadline=T0 - timedelta(days=1))
        _insert(store, later, now_due, done, flow, soon)
        at = T0 + timedelta(minutes=10)
        assert store.due_for_expiry(at, 10) == ["soon", "flow", "now"]
        assert store.due_for_expiry(at, 2) == ["soon", "flow"]
        assert store.due_for_expiry(T0, 10) == []

    @requirement("REQ-3-DEADLINES", "REQ-4-STORE-QUERIES")
    @port_rule('due_for_expiry',
               'The query follows updates: a moved deadline or a flow that ended is what it '
               'sees.')
    def test_due_for_expiry_follows_updates(self, store: Store) -> None:
        """A deadline moved by an update, or a flow that ended, is what expiry sees."""
        a = sample_activation(step_deadline=T0 + timedelta(minutes=5))
        _insert(store, a)
        at = T0 + timedelta(minutes=5)
        assert store.due_for_expiry(at, 10) == ["act-1"]
        b = _update(store, a, step_deadline=T0 + timedelta(minutes=30))
        assert store.due_for_expiry(at, 10) == []
        _update(store, b, state=State.EXPIRED, step_deadline=None)
        assert store.due_for_expiry(T0 + timedelta(days=2), 10) == []

    # -- outbox ---------------------------------------------------------------------------------

    @requirement("REQ-6-OUTBOX", "REQ-5-AT-REST")
    @port_rule('commit', 'Outbox messages are upserted by id.')
    @port_rule('outbox_of', 'one per id, oldest first')
    def test_outbox_messages_are_upserted_by_id(self, store: Store) -> None:
        """Committing a message id again replaces it; `outbox_of` keeps one, oldest first."""
        first = sample_message("m1")
        second = sample_message("m2", created=T0 + timedelta(seconds=1))
        store.commit(Change(outbox=(first, second)))
        sent = replace(first, status=Delivery.SENT, payload=b"", attempts=1)
        store.commit(Change(outbox=(sent,)))
        assert store.outbox_of("act-1") == [sent, second]
        assert store.outbox_of("other") == []

    @requirement("REQ-6-OUTBOX")
    @port_rule('claim_outbox',
               'Claim up to `limit` pending messages due at or before `now`, oldest due first.')
    def test_claim_takes_due_pending_messages_oldest_due_first(self, store: Store) -> None:
        """Only pending messages due by `now` are claimed, soonest due first, at most `limit`."""
        messages = [sample_message("late", due=T0 + timedelta(seconds=30)),
                    sample_message("first", due=T0 - timedelta(seconds=20)),
                    sample_message("second", due=T0 - timedelta(seconds=10)),
                    sample_message("now", due=T0),
                    sample_message("sent", due=T0 - timedelta(hours=1), status=Delivery.SENT),
                    sample_message("dropped", due=T0 - timedelta(hours=1), status=Delivery.DROPPED),
                    sample_message("gone", due=T0 - timedelta(hours=1), status=Delivery.ABANDONED)]
        store.commit(Change(outbox=tuple(messages)))
        assert [m.id for m in store.claim_outbox(T0, 2, LEASE)] == ["first", "second"]
        assert [m.id for m in store.claim_outbox(T0, 10, LEASE)] == ["now"]
        assert store.claim_outbox(T0, 10, LEASE) == []

    @requirement("REQ-6-OUTBOX")
    @port_rule('claim_outbox',
               'A claimed message is not returned to another caller until `lease` has passed; '
               'its `claimed_until` is set in the returned copy and in the store.')
    def test_a_claim_holds_for_its_lease(self, store: Store) -> None:
        """A claimed message is not handed out again before its lease ends, and is after."""
        store.commit(Change(outbox=(sample_message(),)))
        (claimed,) = store.claim_outbox(T0, 10, LEASE)
        assert claimed.claimed_until == T0 + LEASE
        assert store.outbox_of("act-1")[0].claimed_until == T0 + LEASE
        assert store.claim_outbox(T0 + LEASE - timedelta(microseconds=1), 10, LEASE) == []
        (again,) = store.claim_outbox(T0 + LEASE, 10, LEASE)
        assert again.id == claimed.id
        assert again.claimed_until == T0 + 2 * LEASE

    @requirement("REQ-6-OUTBOX", "REQ-6-AT-LEAST-ONCE")
    @port_rule('claim_outbox', 'A message rescheduled with a later due time waits for it.')
    def test_a_rescheduled_message_waits_for_its_new_due_time(self, store: Store) -> None:
        """A retry committed with a later due time and no claim is claimed only once due."""
        store.commit(Change(outbox=(sample_message(),)))
        (claimed,) = store.claim_outbox(T0, 10, LEASE)
        retry = replace(claimed, attempts=1, claimed_until=None, due_at=T0 + timedelta(seconds=10),
                        last_error="DeliveryFailed")
        store.commit(Change(outbox=(retry,)))
        assert store.claim_outbox(T0 + timedelta(seconds=9), 10, LEASE) == []
        (again,) = store.claim_outbox(T0 + timedelta(seconds=10), 10, LEASE)
        assert (again.attempts, again.last_error) == (1, "DeliveryFailed")

    @requirement("REQ-6-OUTBOX")
    @port_rule('claim_outbox', 'Only the returned messages are leased: the others keep no claim, so '
               'a message claimed later is leased from that later `now`.')
    def test_a_claim_leases_only_what_it_returns(self, store: Store) -> None:
        """Claiming one message at a time leases each from its own claim, not from the first."""
        store.commit(Change(outbox=tuple(sample_message(f"m{i}", created=T0 + timedelta(
            microseconds=i)) for i in range(3))))
        (first,) = store.claim_outbox(T0, 1, LEASE)
        assert [m.claimed_until for m in store.outbox_of("act-1")] == [T0 + LEASE, None, None]
        later = T0 + LEASE + timedelta(seconds=30)
        store.commit(Change(outbox=(replace(first, status=Delivery.SENT, claimed_until=None),)))
        (second,) = store.claim_outbox(later, 1, LEASE)
        assert (second.id, second.claimed_until) == ("m1", later + LEASE)
        just_before = later + LEASE - timedelta(microseconds=1)
        (third,) = store.claim_outbox(just_before, 5, LEASE)
        assert (third.id, third.claimed_until) == ("m2", just_before + LEASE)

    @requirement("REQ-6-OUTBOX")
    @port_rule('claim_outbox', 'Concurrent claims never share a message.')
    def test_concurrent_claims_never_share_a_message(self, store: Store) -> None:
        """Six threads claiming at once split sixty messages without overlap."""
        store.commit(Change(outbox=tuple(sample_message(f"m{i:02d}", created=T0 + timedelta(
            microseconds=i)) for i in range(60))))
        barrier, claims = threading.Barrier(6), list[str]()

        def claim() -> None:
            barrier.wait()
            for _ in range(60):  # bounded: a store that ignores leases must fail, not hang
                batch = store.claim_outbox(T0, 4, LEASE)
                if not batch:
                    return
                claims.extend(m.id for m in batch)

        threads = [threading.Thread(target=claim) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(claims) == [f"m{i:02d}" for i in range(60)]

    # -- audit ----------------------------------------------------------------------------------

    @requirement("REQ-5-AUDIT")
    @port_rule('audit_trail', 'The audit events of an activation, by `seq`, across commits.')
    @port_rule('commit', 'Audit events are appended.')
    def test_audit_events_are_appended_and_read_by_seq(self, store: Store) -> None:
        """Each activation's trail holds its events in `seq` order, across commits."""
        store.commit(Change(audit=(sample_audit(seq=1), sample_audit("other", 1))))
        store.commit(Change(audit=(sample_audit(seq=3, action="scan"),
                                   sample_audit(seq=2, action="email_sent"))))
        assert [(e.seq, e.action) for e in store.audit_trail("act-1")] == [
            (1, "request"), (2, "email_sent"), (3, "scan")]
        assert store.audit_trail("act-1")[0] == sample_audit(seq=1)
        assert [e.activation_id for e in store.audit_trail("other")] == ["other"]

    @requirement("REQ-5-AUDIT")
    @port_rule('audit_trail',
               'Refusals of requests share the activation id "": all are kept, by `seq`, in '
               'arrival order among equal ones.')
    def test_request_refusals_share_the_empty_activation_id(self, store: Store) -> None:
        """Several refusal events with activation id "" and seq 0 are all kept, in order."""
        refusals = tuple(replace(sample_audit("", 0, action="request"), reason=f"refused {i}",
                                 hash=f"h{i}") for i in range(3))
        store.commit(Change(audit=refusals[:2]))
        store.commit(Change(audit=refusals[2:]))
        assert store.audit_trail("") == list(refusals)
        chained = replace(sample_audit("", 1), subject="subject-b", hash="c1")
        store.commit(Change(audit=(chained,)))
        assert store.audit_trail("") == [*refusals, chained]

    @requirement("REQ-5-AUDIT")
    @port_rule('commit', 'An audit event with a `seq` above 0 whose activation id, subject and `seq` '
               'are already stored is a conflict (two writers chained after one head).')
    def test_a_second_event_chained_after_one_head_is_a_conflict(self, store: Store) -> None:
        """A refusal (or event) numbered like a stored one conflicts, and its change is not applied."""
        first = replace(sample_audit("", 1), hash="first")
        store.commit(Change(audit=(first, sample_audit("act-1", 1))))
        for twin in (replace(first, hash="twin"), replace(sample_audit("act-1", 1), hash="twin")):
            with pytest.raises(ConcurrencyConflict):
                store.commit(Change(outbox=(sample_message("m-twin"),), audit=(twin,)))
        assert store.outbox_of("act-1") == []
        other = replace(first, subject="subject-b", hash="other")
        store.commit(Change(audit=(other, replace(first, seq=0, hash="unchained"),
                                   replace(first, seq=0, hash="unchained-too"))))
        assert [e.hash for e in store.audit_trail("")] == ["unchained", "unchained-too", "first", "other"]

    # -- history and turns ----------------------------------------------------------------------

    @requirement("REQ-3-HISTORY", "REQ-4-STORE-QUERIES")
    @port_rule('steps', "The activation's steps numbered above `after` (audit events with `step > after`), "
               "oldest first, at most `limit`")
    def test_steps_read_back_oldest_first_without_refusals(self, store: Store) -> None:
        """Every step appended over several commits reads back, oldest first; refusals are not steps."""
        steps = sample_steps(8)
        commit_steps(store, "act-1", steps)
        assert store.steps("act-1") == steps
        assert store.steps("other") == []
        assert len(store.audit_trail("act-1")) == 8 + 3

    @requirement("REQ-3-HISTORY", "REQ-4-STORE-QUERIES")
    @port_rule('steps', "The activation's steps numbered above `after` (audit events with `step > after`), "
               "oldest first, at most `limit`")
    def test_steps_page_by_number(self, store: Store) -> None:
        """`after` skips the steps numbered up to it and `limit` bounds the page."""
        steps = sample_steps(10)
        commit_steps(store, "act-1", steps, per_commit=4)
        assert store.steps("act-1", 0, 3) == steps[:3]
        assert store.steps("act-1", 3, 4) == steps[3:7]
        assert store.steps("act-1", 7, 100) == steps[7:]
        assert store.steps("act-1", 0, 6) == steps[:6]
        assert store.steps("act-1", 1, 9) == steps[1:]
        assert store.steps("act-1", 10, 5) == []
        assert store.steps("act-1", 2, 0) == []

    @requirement("REQ-6-CAS")
    @port_rule('turn', 'How many committed changes took a `Turn` of `subject` (0 before the first).')
    @port_rule('Store', "each `Turn` only if the subject's turn counter still equals its `expected`, "
               "else nothing is applied and `ConcurrencyConflict` is raised")
    def test_a_turn_is_compared_and_set(self, store: Store) -> None:
        """A turn taken at the current count applies and advances it; a stale one conflicts."""
        assert store.turn("subject-a") == 0
        store.commit(Change(turns=(Turn("subject-a", 0),)))
        store.commit(Change(turns=(Turn("subject-a", 1),)))
        assert (store.turn("subject-a"), store.turn("subject-b")) == (2, 0)
        for stale in (0, 1, 3):
            with pytest.raises(ConcurrencyConflict):
                store.commit(Change(turns=(Turn("subject-a", stale),)))
        assert store.turn("subject-a") == 2

    @requirement("REQ-6-CAS", "REQ-6-ATOMIC")
    @port_rule('Store', "each `Turn` only if the subject's turn counter still equals its `expected`, "
               "else nothing is applied and `ConcurrencyConflict` is raised")
    def test_a_stale_turn_applies_nothing_of_its_change(self, store: Store) -> None:
        """A change whose turn is stale writes no activation, message or audit event."""
        store.commit(Change(turns=(Turn("subject-a", 0),)))
        change = Change((Write(sample_activation(), None),), (sample_message(),), (sample_audit(),),
                        (Turn("subject-a", 0),))
        with pytest.raises(ConcurrencyConflict):
            store.commit(change)
        assert store.get("act-1") is None
        assert store.outbox_of("act-1") == []
        assert store.audit_trail("act-1") == []
        assert store.turn("subject-a") == 1

    @requirement("REQ-6-NO-LOST-UPDATE", "REQ-3-REQUESTS")
    @port_rule('turn', 'How many committed changes took a `Turn` of `subject` (0 before the first).')
    def test_concurrent_turns_of_one_subject_have_one_winner(self, store: Store) -> None:
        """Eight threads take the same turn, each with a new activation of its own: one wins."""
        barrier, won = threading.Barrier(8), []

        def attempt(n: int) -> None:
            barrier.wait()
            try:
                store.commit(Change((Write(sample_activation(f"act-{n}"), None),),
                                    turns=(Turn("subject-a", 0),)))
                won.append(n)
            except ConcurrencyConflict:
                pass

        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
        assert [a.id for a in store.list_activations()] == [f"act-{won[0]}"]
        assert store.turn("subject-a") == 1
