"""The durable event feed over a real local HTTP receiver that is down, slow, failing, then well."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from adapters.webhook import (
    EVENT_HEADER,
    KEY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSink,
    sign,
    verify_request,
    verify_signature,
)
from tests.conftest import NID, NID2, Driver, fast_settings, people
from tests.integration.webhook_receiver import TIMEOUT, Hit, Receiver
from workflow import ActivationService
from workflow.domain import AuditEvent, Delivery, MessageKind
from workflow.errors import DeliveryFailed
from workflow.events import from_audit
from workflow.testing import FakeClock

SECRET = "whsec-" + "s" * 32


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver, not started: down until the test starts it."""
    r = Receiver(SECRET, (TIMEOUT, 500, 503, 500))
    yield r
    r.stop()


def _service(receiver: Receiver, store: MemoryStore, clock: FakeClock) -> tuple[ActivationService, Driver]:
    mailer, sms = MemoryMailer(), MemorySms()
    svc = ActivationService(store=store, mailer=mailer, sms=sms, directory=StaticDirectory(people()),
                            clock=clock, settings=fast_settings(),
                            sink=WebhookSink(receiver.url, SECRET, timeout=0.4))
    return svc, Driver(svc, mailer, sms)


def _pending_events(store: MemoryStore, aids: list[str]) -> int:
    return sum(1 for aid in aids for m in store.outbox_of(aid)
               if m.kind == MessageKind.DOMAIN_EVENT and m.status == Delivery.PENDING)


def test_every_event_arrives_once_in_order_with_a_valid_signature(receiver: Receiver) -> None:
    """Down, then a timeout and 5xx answers, then 200: each event is processed once, in order."""
    store, clock = MemoryStore(), FakeClock()
    svc, driver = _service(receiver, store, clock)
    first = driver.reach("active", NID)
    second = driver.reach("scanned", NID2)
    svc.authenticate(first, "4821")
    svc.cancel(second)
    assert svc.dispatch() >= 0
    assert receiver.hits == []
    receiver.start()
    for _ in range(40):
        if not _pending_events(store, [first, second]):
            break
        clock.advance(timedelta(minutes=30))
        svc.dispatch()
    assert _pending_events(store, [first, second]) == 0
    for aid in (first, second):
        expected = [e for e in map(from_audit, store.audit_trail(aid)) if e is not None]
        got = [e for e in receiver.processed.values() if e.activation_id == aid]
        assert got == expected
        assert [e.key for e in receiver.acknowledged if e.activation_id == aid] == [e.key for e in expected]
    assert all(hit.signed for hit in receiver.hits)
    assert [h.status for h in receiver.hits[:4]] == [0, 500, 503, 500]
    kinds = [e.kind for e in receiver.processed.values() if e.activation_id == first]
    assert kinds[-2:] == ["activation.completed", "credential.login_succeeded"]


def _first_delivery(receiver: Receiver) -> Hit:
    """What the receiver got first, once a request's event was dispatched to it."""
    receiver.start()
    svc, _ = _service(receiver, MemoryStore(), FakeClock())
    receiver.script.clear()
    svc.request(NID)
    svc.dispatch()
    return receiver.hits[0]


def test_a_tampered_request_is_rejected_by_the_verification_helper(receiver: Receiver) -> None:
    """Changing the body, the signature or the timestamp of a real request fails the check."""
    hit = _first_delivery(receiver)
    assert verify_request(SECRET, hit.headers, hit.body)
    tampered_body = hit.body.replace(b'"requested"', b'"active"')
    assert tampered_body != hit.body
    assert not verify_request(SECRET, hit.headers, tampered_body)
    forged = {**hit.headers, SIGNATURE_HEADER: "v1=" + "0" * 64}
    assert not verify_request(SECRET, forged, hit.body)
    shifted = {**hit.headers, TIMESTAMP_HEADER: str(int(hit.headers[TIMESTAMP_HEADER]) + 1)}
    assert not verify_request(SECRET, shifted, hit.body)
    assert not verify_request("another-secret-" + "x" * 20, hit.headers, hit.body)


def test_a_replay_under_another_key_or_event_header_is_rejected(receiver: Receiver) -> None:
    """The signature covers the body only: a captured request replayed within the tolerance with
    another `Idempotency-Key` (to pass a receiver's dedupe on it) or `X-Ecps-Event` fails the check."""
    hit = _first_delivery(receiver)
    assert verify_request(SECRET, hit.headers, hit.body)
    lowered = {k.lower(): v for k, v in hit.headers.items()}
    assert lowered[KEY_HEADER.lower()]
    assert lowered[EVENT_HEADER.lower()]
    for header, value in ((KEY_HEADER, "another-key:1"), (EVENT_HEADER, "activation.completed")):
        replayed = {k: v for k, v in hit.headers.items() if k.lower() != header.lower()}
        assert not verify_request(SECRET, {**replayed, header: value}, hit.body), header
    bare = {k: v for k, v in hit.headers.items()
            if k.lower() not in (KEY_HEADER.lower(), EVENT_HEADER.lower())}
    assert verify_request(SECRET, bare, hit.body)


def test_a_replayed_request_is_rejected_once_stale() -> None:
    """A correctly signed request older than the tolerance is refused (replay)."""
    body = b'{"type":"activation.completed"}'
    sent = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    ts = int(sent.timestamp())
    signature = sign(SECRET, ts, body)
    assert verify_signature(SECRET, body, ts, signature, now=sent + timedelta(minutes=4))
    assert not verify_signature(SECRET, body, ts, signature, now=sent + timedelta(minutes=6))
    assert not verify_signature(SECRET, body, "not-a-time", signature, now=sent)


def test_rotating_secrets_accept_old_and_new_signatures() -> None:
    """A receiver given [new, old] secrets accepts either while the sender rotates."""
    body, ts = b"{}", int(datetime.now(UTC).timestamp())
    old, new = "old-secret-" + "o" * 16, "new-secret-" + "n" * 16
    assert verify_signature([new, old], body, ts, sign(old, ts, body))
    assert verify_signature([new, old], body, ts, sign(new, ts, body))
    assert not verify_signature([new], body, ts, sign(old, ts, body))


def test_answers_map_to_transient_or_permanent_failures(receiver: Receiver) -> None:
    """5xx, 408 and 429 are retried; 400 and 404 are not; a closed port is transient."""
    event = next(e for e in map(from_audit, _one_audit()) if e is not None)
    closed = WebhookSink(receiver.url, SECRET, timeout=0.4)
    with pytest.raises(DeliveryFailed) as down:
        closed.publish(event)
    assert down.value.transient
    receiver.script.clear()
    receiver.script.extend([502, 408, 429, 400, 404])
    receiver.start()
    sink = WebhookSink(receiver.url, SECRET, timeout=0.4)
    verdicts = []
    for _ in range(5):
        with pytest.raises(DeliveryFailed) as caught:
            sink.publish(event)
        verdicts.append(caught.value.transient)
    assert verdicts == [True, True, True, False, False]
    sink.publish(event)
    assert list(receiver.processed) == [event.key]


def test_a_permanently_refused_event_is_abandoned_and_the_next_ones_flow(receiver: Receiver) -> None:
    """A 400 abandons that event (logged), and later events of the activation still arrive."""
    receiver.script.clear()
    receiver.script.append(400)
    receiver.start()
    store, clock = MemoryStore(), FakeClock()
    svc, driver = _service(receiver, store, clock)
    aid = driver.reach("scanned")
    for _ in range(3):
        svc.dispatch()
    events = [m for m in store.outbox_of(aid) if m.kind == MessageKind.DOMAIN_EVENT]
    assert [m.status for m in sorted(events, key=lambda m: m.generation)] == [
        Delivery.ABANDONED, Delivery.SENT, Delivery.SENT]
    assert [e.kind for e in receiver.processed.values()] == [
        "activation.email_sent", "activation.qr_scanned"]


def test_the_sink_names_its_receiver_with_the_port_and_without_credentials_or_query() -> None:
    """What `ecps dispatch` prints: scheme, host, port and path; no user, password or query."""
    sink = WebhookSink("https://hook:pa55word@hooks.example:8443/ecps?token=q-s3cret", SECRET)
    assert repr(sink) == "WebhookSink(https://hooks.example:8443/ecps)"
    assert repr(WebhookSink("https://hooks.example/ecps", SECRET)) == "WebhookSink(https://hooks.example/ecps)"


def test_the_sink_rejects_a_bad_url_or_a_short_secret() -> None:
    """A non-HTTP URL or a secret under 16 bytes is refused when the sink is built."""
    with pytest.raises(ValueError, match="http"):
        WebhookSink("ftp://example.org/hook", SECRET)
    with pytest.raises(ValueError, match="secret"):
        WebhookSink("https://example.org/hook", "short")


def _one_audit() -> list[AuditEvent]:
    store = MemoryStore()
    svc = ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(),
                            directory=StaticDirectory(people()), clock=FakeClock(),
                            settings=fast_settings())
    aid = svc.request(NID).activation_id
    return store.audit_trail(aid)
