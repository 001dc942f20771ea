"""The bad-input table of the core issue: each gets its typed error, changes nothing, sends nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta

import pytest

from adapters.memory import MemoryMailer, MemorySms, MemoryStore, StaticDirectory
from tests.conftest import NID, Driver, fast_settings
from workflow import (
    ActivationExpired,
    ActivationLocked,
    ActivationNotFound,
    ActivationService,
    InvalidIdentifier,
    InvalidInput,
    NotEligible,
    TransitionNotAllowed,
    VerificationFailed,
    WeakPin,
    WorkflowError,
)
from workflow.messages import DirectoryEntry
from workflow.testing import FakeClock

BAD_IDENTIFIERS = [
    "", "8", "89970036624", "8997003662400", "899700366241", "８９９７００３６６２４０",
    "٨٩٩٧٠٠٣٦٦٢٤٠", " 899700366240", "899700366240 ", "899700 366240", "899700366240\n",
    "8997003662\x0040", "8" * 10_000, "899700366240\t",
]


def frozen_view(store: MemoryStore, aid: str) -> dict[str, object]:
    """What a refusal must not change: the activation without its audit head, version and seal."""
    a = store.get(aid)
    assert a is not None
    view = asdict(a)
    for volatile in ("version", "audit_seq", "audit_head", "seal"):
        view.pop(volatile)
    view["outbox"] = [(m.id, m.status) for m in store.outbox_of(aid)]
    return view


@pytest.mark.parametrize("bad", BAD_IDENTIFIERS, ids=repr)
def test_malformed_identifiers_are_invalid(service: ActivationService, store: MemoryStore,
                                           bad: str) -> None:
    """A malformed identifier is InvalidIdentifier (an InvalidInput) and creates nothing."""
    with pytest.raises(InvalidIdentifier) as refused:
        service.request(bad)
    assert isinstance(refused.value, InvalidInput)
    assert store.list_activations() == []
    assert len(bad) < 6 or bad.strip() not in str(refused.value)


@pytest.mark.parametrize("bad", ["8" * 13, "8" * 33, "8" * 10_000, "x" * 33], ids=len)
def test_identifiers_of_the_wrong_length_are_told_so(service: ActivationService, bad: str) -> None:
    """Too many digits is told as the length it must have, however many there are."""
    with pytest.raises(InvalidIdentifier, match=r"must be 12 digits: 8 then the 11-digit RPPS$"):
        service.request(bad)


@pytest.mark.parametrize("bad", [None, 899700366240, b"899700366240", 8.9], ids=repr)
def test_identifiers_of_the_wrong_type_are_invalid(service: ActivationService, bad: object) -> None:
    """None, an int or bytes instead of text is InvalidIdentifier."""
    with pytest.raises(InvalidIdentifier):
        service.request(bad)


def test_adeli_numbers_take_the_card_route(service: ActivationService, store: MemoryStore) -> None:
    """An ADELI number (0 + 9 digits) is NotEligible: the card route only."""
    with pytest.raises(NotEligible, match="card"):
        service.request("0012807590")
    assert store.list_activations() == []


def test_luhn_check_is_a_policy_setting(store: MemoryStore, clock: FakeClock) -> None:
    """With the Luhn check off, a sample number with a wrong key is accepted."""
    entry = DirectoryEntry("899700366241", "a.b@c.fr", "0611111111")
    svc = ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(),
                            directory=StaticDirectory([entry]), clock=clock,
                            settings=fast_settings(check_rpps_luhn=False))
    assert svc.request("899700366241").state == "requested"


@pytest.mark.parametrize(("entry", "reason"), [
    (None, "does not know"),
    (DirectoryEntry(NID, None, "0612345678"), "no e-mail"),
    (DirectoryEntry(NID, "", "0612345678"), "no e-mail"),
    (DirectoryEntry(NID, "jane@domain.fr", None), "no mobile"),
    (DirectoryEntry(NID, "jane@domain.fr\r\nBcc: x@evil.fr", "0612345678"), "unusable"),
    (DirectoryEntry(NID, "jane@domain.fr", "06 12 AB 56 78"), "unusable"),
])
def test_directory_refusals(store: MemoryStore, clock: FakeClock,
                            entry: DirectoryEntry | None, reason: str) -> None:
    """Unknown identifiers and unusable contacts of record are NotEligible; nothing is created."""
    mailer = MemoryMailer()
    svc = ActivationService(store=store, mailer=mailer, sms=MemorySms(),
                            directory=StaticDirectory([entry] if entry else []), clock=clock,
                            settings=fast_settings())
    with pytest.raises(NotEligible, match=reason) as refused:
        svc.request(NID)
    assert NID not in str(refused.value)
    assert store.list_activations() == []
    assert svc.dispatch() == 0


def test_unknown_activation_id(service: ActivationService) -> None:
    """An unknown id is ActivationNotFound (also a LookupError)."""
    with pytest.raises(ActivationNotFound):
        service.scan("no-such-activation", "ecps://activation?a=x&t=y")
    with pytest.raises(LookupError):
        service.status("no-such-activation")


@pytest.mark.parametrize("bad", [None, 12, b"abc"], ids=repr)
def test_activation_ids_of_the_wrong_type(service: ActivationService, bad: object) -> None:
    """A non-text activation id is InvalidInput."""
    with pytest.raises(InvalidInput):
        service.cancel(bad)


def assert_refused(driver: Driver, aid: str, call: Callable[[], object],
                   error: type[WorkflowError]) -> WorkflowError:
    """`call` raises `error`, leaves the activation as it was and sends nothing."""
    store = driver.service.store
    assert isinstance(store, MemoryStore)
    driver.service.dispatch()
    before = frozen_view(store, aid)
    sent = len(driver.mailer.sent) + len(driver.sms.sent)
    with pytest.raises(error) as refused:
        call()
    assert frozen_view(store, aid) == before
    driver.service.dispatch()
    assert len(driver.mailer.sent) + len(driver.sms.sent) == sent
    return refused.value


def test_qr_payload_refusals(driver: Driver, service: ActivationService) -> None:
    """Empty, foreign, altered or replayed QR payloads are refused without counting."""
    aid = driver.reach("emailed")
    other = driver.reach("emailed", nid="810100000008")
    good = driver.payload(aid)
    flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert_refused(driver, aid, lambda: service.scan(aid, ""), InvalidInput)
    assert_refused(driver, aid, lambda: service.scan(aid, None), InvalidInput)
    assert_refused(driver, aid, lambda: service.scan(aid, "https://evil.example/?a=1"), InvalidInput)
    foreign = assert_refused(driver, aid, lambda: service.scan(aid, driver.payload(other)),
                             VerificationFailed)
    assert getattr(foreign, "attempts_left", 0) is None
    assert_refused(driver, aid, lambda: service.scan(aid, flipped), VerificationFailed)
    service.scan(aid, good)
    assert_refused(driver, aid, lambda: service.scan(aid, good), TransitionNotAllowed)
    assert good.split("t=")[1] not in str(service.store.audit_trail(aid))


def test_expired_qr_payload(driver: Driver, service: ActivationService, clock: FakeClock) -> None:
    """A payload used after its 60 minutes is ActivationExpired."""
    aid = driver.reach("emailed")
    clock.advance(timedelta(minutes=60))
    with pytest.raises(ActivationExpired):
        service.scan(aid, driver.payload(aid))


@pytest.mark.parametrize("bad", ["12345", "1234567", " 123456", "１２３４５６", "12345a", "", None, 123456],
                         ids=repr)
def test_malformed_sms_codes_are_invalid_and_not_counted(driver: Driver, service: ActivationService,
                                                         bad: object) -> None:
    """Malformed SMS codes are InvalidInput and are not counted as attempts."""
    aid = driver.reach("scanned")
    assert_refused(driver, aid, lambda: service.verify_sms(aid, bad), InvalidInput)
    assert service.status(aid).attempts_left == 5


def test_old_code_after_resend_and_any_code_after_lock(driver: Driver, service: ActivationService,
                                                      clock: FakeClock) -> None:
    """The old code after a resend is wrong; after the lock every code is ActivationLocked."""
    aid = driver.reach("scanned")
    old = driver.code()
    clock.advance(timedelta(seconds=60))
    service.resend_sms(aid)
    service.dispatch()
    new = driver.code()
    wrong = old if old != new else ("000000" if new != "000000" else "111111")
    with pytest.raises(VerificationFailed) as counted:
        service.verify_sms(aid, wrong)
    assert counted.value.attempts_left == 4
    for _ in range(3):
        with pytest.raises(VerificationFailed):
            service.verify_sms(aid, wrong)
    with pytest.raises(ActivationLocked):
        service.verify_sms(aid, wrong)
    assert_refused(driver, aid, lambda: service.verify_sms(aid, new), ActivationLocked)


@pytest.mark.parametrize("bad", ["482", "48211", "48a1", "４８２１", "", None, 4821], ids=repr)
def test_malformed_pins_are_invalid(driver: Driver, service: ActivationService, bad: object) -> None:
    """PINs of the wrong length, with letters or full-width digits are InvalidInput."""
    aid = driver.reach("sms_verified")
    assert_refused(driver, aid, lambda: service.set_pin(aid, bad), InvalidInput)


@pytest.mark.parametrize("weak", ["0000", "1111", "1234", "4321", "0123", "9876", "1212", "2580"])
def test_weak_pins_are_refused_with_a_reason(driver: Driver, service: ActivationService,
                                             weak: str) -> None:
    """Guessable PINs are WeakPin with the reason, and the flow stays in sms_verified."""
    aid = driver.reach("sms_verified")
    error = assert_refused(driver, aid, lambda: service.set_pin(aid, weak), WeakPin)
    assert isinstance(error, WeakPin)
    assert error.reason
    assert weak not in str(error)


def test_events_the_state_does_not_allow(driver: Driver, service: ActivationService) -> None:
    """Out-of-order calls are TransitionNotAllowed even with malformed input."""
    aid = driver.reach("emailed")
    error = assert_refused(driver, aid, lambda: service.set_pin(aid, "abc"), TransitionNotAllowed)
    assert isinstance(error, TransitionNotAllowed)
    assert (error.state, error.event) == ("emailed", "set_pin")
    for call in (lambda: service.verify_sms(aid, "123456"), lambda: service.confirm_pin(aid, "4821"),
                 lambda: service.authenticate(aid, "4821"), lambda: service.resend_sms(aid),
                 lambda: service.revoke(aid)):
        assert_refused(driver, aid, call, TransitionNotAllowed)


def test_refusals_are_audited(driver: Driver, service: ActivationService) -> None:
    """Every refusal appends an audit event with its reason; history is untouched."""
    aid = driver.reach("emailed")
    history = service.status(aid).history
    with pytest.raises(TransitionNotAllowed):
        service.confirm_pin(aid, "4821")
    last = service.store.audit_trail(aid)[-1]
    assert (last.action, last.outcome) == ("confirm_pin", "refused")
    assert "TransitionNotAllowed" in last.reason
    assert service.status(aid).history == history


def test_refused_requests_are_audited_without_the_identifier(service: ActivationService) -> None:
    """A refused request appends an audit event (stream "") with its reason, pseudonymised."""
    with pytest.raises(NotEligible):
        service.request("0012807590")
    with pytest.raises(InvalidIdentifier):
        service.request("８９９７００３６６２４０")
    trail = service.store.audit_trail("")
    assert [(e.action, e.outcome) for e in trail] == [("request", "refused")] * 2
    assert "NotEligible" in trail[0].reason
    assert "0012807590" not in repr(trail)


def test_text_with_lone_surrogates_is_invalid(service: ActivationService) -> None:
    """Text that is not valid Unicode (a lone surrogate) is InvalidInput, on every store."""
    with pytest.raises(InvalidInput):
        service.request(NID, device_id="\ud800")


@pytest.mark.parametrize(("method", "bad"), [
    ("expire_due", 0), ("expire_due", -1), ("expire_due", "500"), ("expire_due", None), ("expire_due", 2.5),
    ("expire_due", True), ("dispatch", -1), ("dispatch", "100"), ("dispatch", None), ("dispatch", 1.5),
], ids=repr)
def test_batch_sizes_of_the_wrong_kind_are_invalid(driver: Driver, service: ActivationService,
                                                   method: str, bad: object) -> None:
    """A batch below its least, or not a whole number, is InvalidInput at once (expire_due(0) looped)."""
    driver.reach("emailed")
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(_raised(getattr(service, method), bad)),
                              daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert outcome, f"{method}({bad!r}) did not return"
    assert isinstance(outcome[0], InvalidInput), outcome[0]


def _raised(call: Callable[[object], object], arg: object) -> object:
    try:
        return call(arg)
    except Exception as exc:
        return exc


def test_the_fake_clock_says_what_it_needs() -> None:
    """Wrong arguments to the kit's clock are refused with what it needs, not a comparison error."""
    clock = FakeClock()
    with pytest.raises(TypeError, match="advance\\(\\) needs a timedelta, not int"):
        clock.advance(5)  # type: ignore[arg-type]
    for bad in ("2026-01-05T09:00Z", 1767600000, None):
        with pytest.raises(ValueError, match="aware UTC"):
            clock.set(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware UTC"):
        FakeClock("2026-01-05")  # type: ignore[arg-type]
    assert clock.now() == FakeClock().now()
