"""The fault-injecting wrappers: schedules, predicates, phases, and what they record."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, fast_settings, people
from workflow import ActivationService, NotEligible, State
from workflow.errors import ConcurrencyConflict, DeliveryFailed, DirectoryUnavailable, StorageError
from workflow.messages import Email, Sms
from workflow.ports import Directory, Mailer, SmsGateway, Store
from workflow.testing import FakeClock
from workflow.testing.faults import (
    FaultyDirectory,
    FaultyMailer,
    FaultySms,
    FaultyStore,
    conflict,
    directory_down,
    permanent_delivery,
    storage_error,
    transient_delivery,
)


def _email(n: int = 0) -> Email:
    return Email("jane.doe@domain.fr", f"subject {n}", "text", "", (), f"id-{n}")


def _service(store: Store, mailer: Mailer, sms: SmsGateway, directory: Directory,
             clock: FakeClock) -> ActivationService:
    return ActivationService(store=store, mailer=mailer, sms=sms, directory=directory, clock=clock,
                             settings=fast_settings())


def test_wrappers_implement_their_ports() -> None:
    """Each wrapper is accepted wherever its port is expected."""
    assert isinstance(FaultyStore(MemoryStore()), Store)
    assert isinstance(FaultyMailer(MemoryMailer()), Mailer)
    assert isinstance(FaultySms(MemorySms()), SmsGateway)
    assert isinstance(FaultyDirectory(StaticDirectory()), Directory)


def test_after_and_times_schedule_the_failures() -> None:
    """`after=1, times=2` lets the first call through, fails the next two, then heals."""
    mailer = FaultyMailer(MemoryMailer()).inject(transient_delivery(), after=1, times=2)
    outcomes = []
    for n in range(5):
        try:
            mailer.send(_email(n))
            outcomes.append("ok")
        except DeliveryFailed as exc:
            outcomes.append("transient" if exc.transient else "permanent")
    assert outcomes == ["ok", "transient", "transient", "ok", "ok"]
    assert [e.subject for e in mailer.mailer.sent] == ["subject 0", "subject 3", "subject 4"]  # type: ignore[attr-defined]
    assert mailer.injected == 2


def test_every_fails_one_call_in_n() -> None:
    """`every=3, times=None` fails the 3rd, 6th, 9th... call."""
    sms = FaultySms(MemorySms()).inject(permanent_delivery(), times=None, every=3, after=2)
    failed = []
    for n in range(9):
        try:
            sms.send(Sms("0612345678", f"code {n}", f"id-{n}"))
        except DeliveryFailed as exc:
            failed.append((n, exc.transient))
    assert failed == [(2, False), (5, False), (8, False)]


def test_a_predicate_picks_the_calls_to_fail() -> None:
    """`when` sees each call's arguments: only the lookups of one identifier fail."""
    directory = FaultyDirectory(StaticDirectory(people())).fail_always(
        directory_down(), method="lookup")
    directory.rules[0].when = lambda call: call.args[0] == NID
    with pytest.raises(DirectoryUnavailable):
        directory.lookup(NID)
    assert directory.lookup("810100000008") is not None
    assert [c.ok for c in directory.calls] == [False, True]


def test_phase_after_applies_the_effect_then_fails() -> None:
    """A lost reply: the store applied the commit, the caller got an error."""
    store = FaultyStore(MemoryStore()).inject(storage_error(), method="commit", phase="after")
    clock = FakeClock()
    svc = _service(store, MemoryMailer(), MemorySms(), StaticDirectory(people()), clock)
    with pytest.raises(StorageError):
        svc.request(NID)
    (call,) = store.calls_to("commit")
    assert call.injected
    assert call.reached_adapter
    assert len(store.committed) == 1
    (kept,) = store.list_activations()
    assert kept.state == State.REQUESTED


def test_phase_before_never_reaches_the_adapter() -> None:
    """A failure before the call leaves the wrapped store untouched."""
    store = FaultyStore(MemoryStore()).inject(storage_error(transient=False), method="commit")
    svc = _service(store, MemoryMailer(), MemorySms(), StaticDirectory(people()), FakeClock())
    with pytest.raises(StorageError) as caught:
        svc.request(NID)
    assert not caught.value.transient
    assert store.store.list_activations() == []
    assert store.committed == []


def test_injected_conflicts_are_retried_by_the_service() -> None:
    """Two injected conflicts on commit: the service reloads, retries and succeeds."""
    store = FaultyStore(MemoryStore()).inject(conflict(), method="commit", times=2)
    svc = _service(store, MemoryMailer(), MemorySms(), StaticDirectory(people()), FakeClock())
    started = svc.request(NID)
    assert svc.status(started.activation_id).state == State.REQUESTED
    assert [c.ok for c in store.calls_to("commit")] == [False, False, True]


def test_a_flaky_mailer_delivers_once_after_back_off() -> None:
    """The mailer fails twice then works: the e-mail is delivered once and the flow moves on."""
    clock = FakeClock()
    mailer = FaultyMailer(MemoryMailer()).inject(transient_delivery(), times=2)
    svc = _service(MemoryStore(), mailer, MemorySms(), StaticDirectory(people()), clock)
    aid = svc.request(NID).activation_id
    sent = []
    for _ in range(4):
        sent.append(svc.dispatch())
        clock.advance(timedelta(seconds=40))
    assert sum(sent) == 1
    assert len(mailer.delivered) == 1
    assert svc.status(aid).state == State.EMAILED


def test_a_dead_mailer_fails_the_flow() -> None:
    """A mailer that always fails: after the last attempt the flow is `failed`."""
    clock = FakeClock()
    mailer = FaultyMailer(MemoryMailer()).fail_always(transient_delivery())
    svc = _service(MemoryStore(), mailer, MemorySms(), StaticDirectory(people()), clock)
    aid = svc.request(NID).activation_id
    for _ in range(8):
        svc.dispatch()
        clock.advance(timedelta(minutes=5))
    assert svc.status(aid).state == State.FAILED
    assert mailer.delivered == []
    assert mailer.injected == svc.settings.delivery_attempts


def test_heal_removes_every_rule() -> None:
    """After `heal()` calls pass again."""
    mailer = FaultyMailer(MemoryMailer()).fail_always(DeliveryFailed("down", transient=False))
    with pytest.raises(DeliveryFailed):
        mailer.send(_email())
    mailer.heal()
    mailer.send(_email(1))
    assert [e.subject for e in mailer.delivered] == ["subject 1"]


def test_an_exception_instance_is_raised_fresh_each_time() -> None:
    """An instance given to `inject` is re-raised as a new error of its kind, keeping `transient`."""
    store = FaultyStore(MemoryStore()).fail_always(ConcurrencyConflict("busy"), method="get")
    errors = []
    for _ in range(2):
        with pytest.raises(ConcurrencyConflict) as caught:
            store.get("x")
        errors.append(caught.value)
    assert errors[0] is not errors[1]
    mailer = FaultyMailer(MemoryMailer()).inject(DeliveryFailed("slow", transient=False, retry_after=30))
    with pytest.raises(DeliveryFailed) as failed:
        mailer.send(_email())
    assert (failed.value.transient, failed.value.retry_after, str(failed.value)) == (False, 30, "slow")


def test_bad_rules_are_refused() -> None:
    """Negative counts or an unknown phase raise `ValueError`."""
    mailer = FaultyMailer(MemoryMailer())
    with pytest.raises(ValueError):
        mailer.inject(transient_delivery(), after=-1)
    with pytest.raises(ValueError):
        mailer.inject(transient_delivery(), every=0)
    with pytest.raises(ValueError):
        mailer.inject(transient_delivery(), phase="during")  # type: ignore[arg-type]


def test_a_rule_that_could_never_fire_is_refused() -> None:
    """A method the wrapper does not have (a typo) or an error that is neither an exception nor a
    factory is refused when the rule is added, not silently never applied."""
    with pytest.raises(ValueError, match=r"'comit'.*commit"):
        FaultyStore(MemoryStore()).inject(storage_error(), method="comit")
    with pytest.raises(ValueError, match=r"'send_sms'.*send"):
        FaultySms(MemorySms()).inject(transient_delivery(), method="send_sms")
    with pytest.raises(ValueError, match="'get'"):
        FaultyDirectory(StaticDirectory()).inject(directory_down(), method="get")
    with pytest.raises(TypeError, match="exception"):
        FaultyMailer(MemoryMailer()).inject("relay down")  # type: ignore[arg-type]
    store = FaultyStore(MemoryStore())
    for method in ("get", "find", "requests_since", "commit", "due_for_expiry", "claim_outbox",
                   "outbox_of", "audit_trail", "list_activations", "turn", "steps"):
        store.inject(storage_error(), method=method)
    assert len(store.rules) == 11


def test_adapter_errors_are_recorded_not_counted_as_injected() -> None:
    """An error of the wrapped adapter itself passes through and is recorded as such."""

    class Broken(MemoryMailer):
        def send(self, email: Email) -> None:
            raise DeliveryFailed("relay said no", transient=False)

    mailer = FaultyMailer(Broken())
    with pytest.raises(DeliveryFailed):
        mailer.send(_email())
    (call,) = mailer.calls
    assert (call.reached_adapter, call.injected, call.ok) == (True, False, False)
    assert mailer.delivered == []


def test_the_store_wrapper_keeps_the_wrapped_store_s_other_abilities() -> None:
    """Wrapping a store hides none of its optional abilities: the kit still searches its `dump()`, and the
    service still finds its logins (a push login through `FaultyStore` was a StorageError)."""
    from adapters.memory import MemoryPush
    from workflow.ports import DumpableStore, LoginStore, TrailHeads

    store = FaultyStore(MemoryStore())
    assert isinstance(store, DumpableStore)
    assert isinstance(store, LoginStore)
    assert isinstance(store, TrailHeads)
    assert not isinstance(FaultyStore(object()), DumpableStore)  # type: ignore[arg-type]
    svc = ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(), push=MemoryPush(),
                            directory=StaticDirectory(people()), clock=FakeClock(), settings=fast_settings())
    with pytest.raises(NotEligible):  # the login service runs: no active e-CPS yet
        svc.start_login(NID, client_id="portal", client_name="Portal", binding_message="A7-3F")
    assert NID not in store.dump()
