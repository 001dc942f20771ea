"""Security rules (docs/specification.md §5): identifiers, secrets, PIN policy, hashing, masking, at rest."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import NID, Driver, fast_settings
from workflow import ActivationService, Settings, State
from workflow.errors import WeakPin
from workflow.messages import DirectoryEntry
from workflow.security import (
    Keyring,
    check_pin_policy,
    luhn_ok,
    mask_email,
    mask_phone,
    new_activation_id,
    new_token,
    validate_identifier,
)


def test_luhn_key_of_the_sandbox_identity() -> None:
    """The sandbox identity 899700366240 carries a right Luhn key over its RPPS."""
    assert luhn_ok("99700366240")
    assert not luhn_ok("99700366241")
    assert validate_identifier("899700366240") == "899700366240"


def test_tokens_are_long_url_safe_and_unique() -> None:
    """QR tokens hold at least 128 bits, URL-safe base64 without padding."""
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) >= 22 and "=" not in t and "+" not in t and "/" not in t for t in tokens)


def test_masking() -> None:
    """Contacts are shown masked as in the app."""
    assert mask_email("jane.doe@domain.fr") == "ja****@domain.fr"
    assert mask_phone("0612345678") == "06****78"


def test_pin_policy_accepts_ordinary_pins() -> None:
    """A PIN without a pattern is accepted."""
    check_pin_policy("4821")
    check_pin_policy("739154")
    check_pin_policy("48219305")


@pytest.mark.parametrize("pin", ["121212", "123123", "12121212", "48214821", "112233", "159753",
                                 "147258", "1212", "2580"])
def test_the_most_common_pins_are_refused_at_every_length(pin: str) -> None:
    """A repeated block of any size, and the common PINs of six digits as of four."""
    with pytest.raises(WeakPin, match="among the most common ones"):
        check_pin_policy(pin)


def test_pins_are_hashed_salted_and_peppered(settings: Settings) -> None:
    """The PIN hash is argon2id, salted (two hashes differ) and bound to the activation."""
    keys = Keyring(settings)
    first, second = keys.hash_pin("a1", "4821"), keys.hash_pin("a1", "4821")
    assert first.startswith("$argon2id$")
    assert first != second
    assert "4821" not in first
    assert keys.verify_pin(first, "a1", "4821")
    assert not keys.verify_pin(first, "a1", "4822")
    assert not keys.verify_pin(first, "a2", "4821")
    assert not Keyring(fast_settings(secret_key="another-key-" + "x" * 20)).verify_pin(first, "a1", "4821")


@given(purpose=st.text(max_size=20), parts=st.lists(st.text(max_size=300), max_size=6))
def test_keyed_digests_are_hmac_sha256_of_the_joined_parts(purpose: str, parts: list[str]) -> None:
    """`Keyring.digest` is HMAC-SHA-256 under the key derived for digests, of the purpose and
    parts joined by the unit separator: digests stored by earlier releases still match."""
    settings = fast_settings()
    mac_key = hmac.digest(settings.key, b"ecps/mac", "sha256")
    message = "\x1f".join((purpose, *parts)).encode()
    expected = hmac.new(mac_key, message, hashlib.sha256).hexdigest()
    assert Keyring(settings).digest(purpose, *parts) == expected


def test_sealed_data_needs_the_server_key(settings: Settings) -> None:
    """Ciphertext opens with the same key and fails clearly with another one."""
    blob = Keyring(settings).seal(b"jane.doe@domain.fr")
    assert b"jane" not in blob
    assert Keyring(settings).unseal(blob) == b"jane.doe@domain.fr"
    from workflow import StorageError

    with pytest.raises(StorageError):
        Keyring(fast_settings(secret_key="another-key-" + "x" * 20)).unseal(blob)


@pytest.mark.parametrize("bad", [
    {"sms_code_validity": timedelta(minutes=11)}, {"pin_length": 3}, {"pin_length": 13},
    {"sms_code_digits": 5}, {"secret_key": "short"}, {"max_sms_attempts": 0},
    {"flow_validity": timedelta(0)}, {"deep_link_base": "not a uri"},
])
def test_invalid_settings_raise_value_error(bad: dict[str, object]) -> None:
    """Settings outside their allowed ranges raise ValueError when constructed."""
    with pytest.raises(ValueError, match="invalid Settings"):
        fast_settings(**bad)


def test_secret_key_never_appears_in_repr() -> None:
    """The server key is not shown by repr(Settings)."""
    assert "super-secret-value" not in repr(Settings(secret_key="super-secret-value-123"))


def test_messages_handed_to_adapters_show_no_secret_in_repr(driver: Driver) -> None:
    """An adapter that logs the e-mail, SMS or directory entry it was given (`%r`) shows no code, token,
    full contact or identifier; the values themselves are intact."""
    aid = driver.reach("scanned")
    token = driver.payload(aid).split("t=")[1]
    code = driver.code()
    email, sms = driver.mailer.sent[-1], driver.sms.sent[-1]
    entry = DirectoryEntry(NID, "jane.doe@domain.fr", "0612345678", "Dr Jane Doe")
    shown = repr(email) + str(email) + repr(sms) + str(sms) + repr(entry) + repr([entry, None])
    for secret in (token, code, NID, "jane.doe@domain.fr", "0612345678"):
        assert secret not in shown
    assert "ja****@domain.fr" in repr(email)
    assert "06****78" in repr(sms)
    assert code in sms.text
    assert token in email.text


def test_nothing_secret_at_rest_after_a_whole_flow(driver: Driver) -> None:
    """After a whole activation no token, code, PIN or full contact is readable in the store."""
    svc = driver.service
    aid = driver.reach("scanned")
    token = driver.payload(aid).split("t=")[1]
    code = driver.code()
    svc.verify_sms(aid, code)
    svc.set_pin(aid, "4821")
    svc.confirm_pin(aid, "4821")
    stored = svc.store.get(aid)
    assert stored is not None
    record = asdict(stored)
    dump = repr(record) + repr(svc.store.outbox_of(aid)) + repr(svc.store.audit_trail(aid))
    for secret in (token, NID, "jane.doe@domain.fr", "0612345678"):
        assert secret not in dump
    for field in ("masked_email", "masked_phone", "device_id", "closed_reason"):
        assert code not in repr(record[field])
        assert "4821" not in repr(record[field])
    assert all(m.payload == b"" for m in svc.store.outbox_of(aid))


def race(threads: int, call: Callable[[], object]) -> list[str]:
    """Run `call` from `threads` threads released together; each outcome: "ok" or the error's name."""
    outcomes: list[str] = []
    barrier = threading.Barrier(threads)

    def submit() -> None:
        barrier.wait()
        try:
            call()
            outcomes.append("ok")
        except Exception as exc:
            outcomes.append(type(exc).__name__)

    running = [threading.Thread(target=submit) for _ in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join()
    return outcomes


def test_concurrent_right_codes_succeed_once(driver: Driver) -> None:
    """16 threads submit the right code at once: one succeeds, the others are refused cleanly."""
    svc: ActivationService = driver.service
    aid = driver.reach("scanned")
    code = driver.code()
    outcomes = race(16, lambda: svc.verify_sms(aid, code))
    assert not set(outcomes) - {"ok", "TransitionNotAllowed", "ConcurrencyConflict"}
    assert outcomes.count("ok") == 1
    assert len(outcomes) == 16
    assert svc.status(aid).state == State.SMS_VERIFIED
    assert [s.event for s in svc.status(aid).history].count("verify_sms") == 1


def test_concurrent_wrong_codes_are_all_counted(driver: Driver) -> None:
    """50 concurrent wrong codes: exactly 5 are counted and the activation ends locked."""
    svc: ActivationService = driver.service
    aid = driver.reach("scanned")
    right = driver.code()
    wrong = "000000" if right != "000000" else "111111"
    outcomes = race(50, lambda: svc.verify_sms(aid, wrong))
    assert outcomes.count("VerificationFailed") == 4
    assert outcomes.count("ActivationLocked") == 46
    history = svc.status(aid).history
    assert sum(s.event == "verify_sms" for s in history) == 5
    assert svc.status(aid).state == State.LOCKED


def test_not_found_names_only_an_id_of_the_right_form() -> None:
    """A national identifier, a QR token or a bearer token given in an id's place is not echoed;
    the ids the service makes are, and they have the form the errors check."""
    from workflow.errors import ACTIVATION_ID, LOGIN_ID, ActivationNotFound, LoginNotFound
    from workflow.login.service import new_login_id

    aid, lid = new_activation_id(), new_login_id()
    assert ACTIVATION_ID.fullmatch(aid)
    assert LOGIN_ID.fullmatch(lid)
    assert str(ActivationNotFound(aid)) == f"no activation '{aid}'"
    assert str(LoginNotFound(lid)) == f"no login '{lid}'"
    for pasted in ("899700366240", "grA2FOM50JW3oALIlT8fK-n56wPgN6vWS3L4aMvzoeg", "OpTokenVerySecret-0123"):
        for refused in (ActivationNotFound(pasted), LoginNotFound(pasted)):
            assert pasted not in str(refused)
            assert "not shown" in str(refused)
        assert "the form of an activation id" in str(ActivationNotFound(pasted))
        assert "the form of a login id" in str(LoginNotFound(pasted))
