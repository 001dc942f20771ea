"""The asyncio facade: same calls, same errors, concurrent activations, a free event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from adapters.memory import MemoryMailer, MemorySink, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, fast_settings, people
from workflow import ActivationNotFound, InvalidInput, State, VerificationFailed
from workflow import events as ev
from workflow.aio import AsyncActivationService
from workflow.messages import DirectoryEntry, Email, Sms
from workflow.security import luhn_ok
from workflow.testing import FakeClock, code_from, payload_from


def identifiers(n: int) -> list[str]:
    """`n` distinct well-formed identifiants nationaux (8 + an RPPS with its Luhn key)."""
    found: list[str] = []
    base = 1000000000
    while len(found) < n:
        body = str(base)
        found.append("8" + body + next(d for d in "0123456789" if luhn_ok(body + d)))
        base += 7
    return found


def build(entries: list[DirectoryEntry],
          **extra: object) -> tuple[AsyncActivationService, MemoryMailer, MemorySms]:
    """A facade over memory adapters knowing `entries`."""
    mailer, sms = MemoryMailer(), MemorySms()
    svc = AsyncActivationService(store=MemoryStore(), mailer=mailer, sms=sms,
                                 directory=StaticDirectory(entries), clock=FakeClock(),
                                 settings=fast_settings(), **extra)
    return svc, mailer, sms


async def until(svc: AsyncActivationService, found: Callable[[], object]) -> object:
    """Dispatch until `found()` gives something (another task may be delivering it)."""
    for _ in range(2000):
        value = found()
        if value:
            return value
        await svc.dispatch()
        await asyncio.sleep(0.001)
    raise AssertionError("the message never arrived")


@pytest.mark.asyncio
async def test_a_hundred_concurrent_activations_all_reach_active() -> None:
    """100 professionals activating at once through the facade all end active, with their own codes."""
    nids = identifiers(100)
    entries = [DirectoryEntry(nid, f"pro{i}@domain.fr", f"06{i:08d}", f"Pro {i}")
               for i, nid in enumerate(nids)]
    sink = MemorySink()
    svc, mailer, sms = build(entries, sink=sink)

    def mail_for(aid: str) -> Email | None:
        return next((m for m in list(mailer.sent) if f"a={aid}&" in m.text), None)

    def sms_for(phone: str) -> Sms | None:
        return next((s for s in list(sms.sent) if s.to == phone), None)

    async def activate(i: int) -> str:
        aid = (await svc.request(nids[i], device_id=f"phone-{i}")).activation_id
        mail = await until(svc, lambda: mail_for(aid))
        assert isinstance(mail, Email)
        await svc.scan(aid, payload_from(mail))
        text = await until(svc, lambda: sms_for(f"06{i:08d}"))
        assert isinstance(text, Sms)
        await svc.verify_sms(aid, code_from(text))
        await svc.set_pin(aid, "4821")
        await svc.confirm_pin(aid, "4821")
        assert await svc.authenticate(aid, "4821") is True
        return aid

    aids = await asyncio.gather(*(activate(i) for i in range(100)))
    assert len(set(aids)) == 100
    states = await asyncio.gather(*(svc.status(aid) for aid in aids))
    assert {s.state for s in states} == {State.ACTIVE}
    while await svc.dispatch():
        pass
    completed = {e.activation_id for e in sink.unique() if isinstance(e, ev.ActivationCompleted)}
    assert completed == set(aids)


@pytest.mark.asyncio
async def test_errors_are_the_same_as_the_sync_service() -> None:
    """Malformed input, a wrong code and an unknown id raise the same errors as the sync core."""
    svc, mailer, sms = build(people())
    aid = (await svc.request(NID)).activation_id
    await svc.dispatch()
    await svc.scan(aid, payload_from(mailer.sent[-1]))
    await svc.dispatch()
    with pytest.raises(InvalidInput):
        await svc.verify_sms(aid, "12")
    wrong = "000000" if code_from(sms.sent[-1]) != "000000" else "111111"
    with pytest.raises(VerificationFailed) as caught:
        await svc.verify_sms(aid, wrong)
    assert caught.value.attempts_left == svc.settings.max_sms_attempts - 1
    with pytest.raises(ActivationNotFound):
        await svc.status("no-such-activation")
    assert (await svc.status(aid)).state == State.SCANNED


@pytest.mark.asyncio
async def test_a_call_leaves_the_event_loop_free() -> None:
    """A call blocked in its adapter waits for a coroutine the loop runs meanwhile: no deadlock."""
    gate = threading.Event()

    class SlowDirectory(StaticDirectory):
        def lookup(self, national_id: str) -> DirectoryEntry | None:
            assert gate.wait(timeout=10), "the event loop was blocked"
            return super().lookup(national_id)

    svc = AsyncActivationService(store=MemoryStore(), mailer=MemoryMailer(), sms=MemorySms(),
                                 directory=SlowDirectory(people()), clock=FakeClock(),
                                 settings=fast_settings())

    async def open_gate() -> None:
        await asyncio.sleep(0.01)
        gate.set()

    started, _ = await asyncio.gather(svc.request(NID), open_gate())
    assert started.state == State.REQUESTED


@pytest.mark.asyncio
async def test_async_listeners_run_on_the_loop_after_the_commit() -> None:
    """A coroutine listener gets each event on the loop's thread; a failing one is only counted."""
    svc, _, _ = build(people())
    loop_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []

    async def record(event: ev.DomainEvent) -> None:
        seen.append((event.kind, threading.get_ident()))

    async def broken(event: ev.DomainEvent) -> None:
        raise RuntimeError("host bug")

    svc.listen(record)
    svc.listen(broken, ev.ActivationRequested)
    aid = (await svc.request(NID)).activation_id
    await svc.dispatch()
    for _ in range(100):
        if len(seen) >= 2 and svc.listeners.failures:
            break
        await asyncio.sleep(0.01)
    assert seen == [("activation.requested", loop_thread), ("activation.email_sent", loop_thread)]
    assert svc.listeners.failures == 1
    assert (await svc.status(aid)).state == State.EMAILED
    svc.unlisten(record)
    await svc.cancel(aid)
    await asyncio.sleep(0.05)
    assert len(seen) == 2


@pytest.mark.asyncio
async def test_listen_refuses_what_it_cannot_run() -> None:
    """Something not callable, or a kind that is no event class, is refused when registered."""
    svc, _, _ = build(people())
    with pytest.raises(TypeError, match="callable"):
        svc.listen(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="DomainEvent classes"):
        svc.listen(_ignore, "activation.completed")  # type: ignore[arg-type]
    assert len(svc.listeners) == 0


async def _ignore(event: ev.DomainEvent) -> None:
    return None


def test_a_listener_whose_loop_has_closed_is_dropped_quietly(recwarn: pytest.WarningsRecorder,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """Once the loop a coroutine listener was registered on has closed, later events unregister it
    (one warning in the log), with no failure counted and no coroutine left un-awaited."""
    svc, _, _ = build(people())

    async def register() -> None:
        svc.listen(_ignore)

    asyncio.run(register())
    svc.service.request(NID)
    svc.service.dispatch()
    assert len(svc.listeners) == 0
    assert svc.listeners.failures == 0
    assert [r.getMessage() for r in caplog.records if r.name == "ecps.listeners"] == [
        "listener _ignore dropped: the event loop it was registered on is closed"]
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


def test_the_facade_takes_a_service_or_its_ports_not_both() -> None:
    """Giving a service and ports at once, or something else than a service, is a TypeError."""
    svc, _, _ = build(people())
    assert AsyncActivationService(svc.service).service is svc.service
    with pytest.raises(TypeError):
        AsyncActivationService(svc.service, settings=fast_settings())
    with pytest.raises(TypeError):
        AsyncActivationService(object())  # type: ignore[arg-type]


CALLS = ("request", "scan", "resend_email", "resend_sms", "verify_sms", "set_pin", "confirm_pin",
         "authenticate", "cancel", "revoke", "dispatch", "expire_due", "status", "history", "close",
         "start_login", "pending_logins", "approve_login", "deny_login", "cancel_login",
         "login_result", "jwks")


@pytest.mark.parametrize("name", CALLS)
def test_every_call_of_the_service_is_a_coroutine_with_the_same_parameters(name: str) -> None:
    import inspect

    from workflow import ActivationService

    sync, awaited = getattr(ActivationService, name), getattr(AsyncActivationService, name)
    assert inspect.iscoroutinefunction(awaited)
    assert inspect.signature(awaited).parameters == inspect.signature(sync).parameters


def test_the_list_of_calls_is_every_public_call_of_the_service() -> None:
    """A call added to the service and not to the facade fails here (the rest is the service's
    own plumbing, asked by the dispatcher and the login desk)."""
    from workflow import ActivationService

    plumbing = {"now", "answering", "workflow", "logins", "audit_refusal", "active_credential",
                "credential", "pin_right", "count_pin", "commit", "fits", "settle", "engine",
                "definition", "keys", "listeners", "settings", "store", "dispatcher"}
    public = {n for n in vars(ActivationService) if not n.startswith("_")}
    assert public - plumbing == set(CALLS)


@pytest.mark.asyncio
async def test_history_and_the_keys_are_awaited() -> None:
    svc, _, _ = build([DirectoryEntry(NID, "jane.doe@domain.fr", "0612345678", "Dr Jane Doe")])
    aid = (await svc.request(NID, "phone", None)).activation_id
    page = await svc.history(aid, after=0, limit=10)
    assert [s.event for s in page.steps] == ["request"]
    assert (await svc.jwks())["keys"]
    assert await svc.pending_logins(aid) == ()
