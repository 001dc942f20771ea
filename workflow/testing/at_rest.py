"""Secrets at rest: drive whole flows over a store, then search what it keeps for any raw secret.

Raw secrets are the QR tokens, SMS codes and PINs the phone saw, and the full e-mail, phone and
identifier of the professional (docs/specification.md, security). A store never receives any of them in clear.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta

from workflow.errors import WorkflowError
from workflow.messages import DirectoryEntry
from workflow.ports import DumpableStore, Store
from workflow.service import ActivationService
from workflow.settings import Settings
from workflow.testing.clock import FakeClock
from workflow.testing.phone import code_from, payload_from
from workflow.testing.pins import strong_pins
from workflow.testing.recording import FixedDirectory, Inbox, close_store

Dump = Callable[[Store], str | bytes]
PEOPLE = (DirectoryEntry("899700366240", "jane.doe@domain.fr", "0612345678", "Dr Jane Doe"),
          DirectoryEntry("810100000008", "paul.martin@clinique.fr", "0798765432", "Paul Martin"))
PINS = strong_pins(4)[:2]  # at the default length; the flows use their settings' own
SHORT = 8  # PINs and SMS codes: digits that hashes and times may hold by chance inside longer words


def at_rest_settings() -> Settings:
    """Test settings with a cheap PIN hash."""
    return Settings(secret_key="at-rest-key-" + "r" * 32, argon2_memory_kib=64, argon2_time_cost=1,
                    argon2_parallelism=1)


def port_dump(store: Store, activation_ids: list[str]) -> str:
    """Everything readable through the port about these activations, as text."""
    parts = [repr(asdict(a)) for a in store.list_activations(1000)]
    for aid in activation_ids:
        parts.append(repr(store.get(aid)))
        parts += [repr(m) for m in store.outbox_of(aid)]
        parts += [repr(e) for e in store.audit_trail(aid)]
    parts += [repr(e) for e in store.audit_trail("")]
    return "\n".join(parts)


def run_flows(store: Store, settings: Settings | None = None) -> tuple[dict[str, str], list[str]]:
    """Whole flows over `store` (resends, wrong answers, a mismatch, logins, a replacement).

    Returns the raw secrets seen, each with what it is ("PIN", "full phone", ...), and the
    activation ids.
    """
    settings = settings or at_rest_settings()
    pins = strong_pins(settings.pin_length)[:2]
    clock, mail, phone = FakeClock(), Inbox(), Inbox()
    svc = ActivationService(store=store, mailer=mail, sms=phone, directory=FixedDirectory(PEOPLE),
                            clock=clock, settings=settings)
    seen: dict[str, set[str]] = {}
    ids: list[str] = []

    def saw(what: str, *secrets: str) -> None:
        for secret in secrets:
            if secret:
                seen.setdefault(secret, set()).add(what)

    for person in (*PEOPLE, PEOPLE[0]):  # the second flow of Jane replaces her first e-CPS
        saw("full identifier", person.national_id)
        saw("full e-mail", person.email or "")
        saw("full phone", person.phone or "")
        aid = svc.request(person.national_id, device_id="phone-1").activation_id
        ids.append(aid)
        svc.dispatch()
        if settings.max_resends:  # a resent e-mail, when resends are allowed
            clock.advance(settings.resend_cooldown)
            svc.resend_email(aid)
            svc.dispatch()
        payload = payload_from(mail.newest_email())
        saw("QR payload", payload)
        saw("QR token", payload.rsplit("t=", 1)[1])
        svc.scan(aid, payload)
        svc.dispatch()
        code = code_from(phone.newest_sms(), settings.sms_code_digits)
        saw("SMS code", code)
        _refused(svc.verify_sms, aid, code[:-1] + str((int(code[-1]) + 1) % 10))
        svc.verify_sms(aid, code)
        svc.set_pin(aid, pins[0])
        _refused(svc.confirm_pin, aid, pins[1])
        svc.set_pin(aid, pins[1])
        svc.confirm_pin(aid, pins[1])
        _refused(svc.authenticate, aid, pins[0])
        svc.authenticate(aid, pins[1])
        svc.dispatch()
        clock.advance(timedelta(minutes=1))
    saw("PIN", *pins)
    return {s: " or ".join(sorted(kinds)) for s, kinds in seen.items()}, ids


def _refused(call: Callable[..., object], *args: object) -> None:
    """Make a call that must be refused (a wrong answer)."""
    try:
        call(*args)
    except WorkflowError:
        return
    raise AssertionError("a wrong answer was accepted")


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, raw.hex().encode(), base64.b64encode(raw).rstrip(b"="),
            base64.urlsafe_b64encode(raw).rstrip(b"=")]


def secrets_at_rest(make_store: Callable[[], Store], dump: Dump | None = None,
                    settings: Settings | None = None,
                    close_store: Callable[[Store], None] = close_store) -> list[str]:
    """Run whole flows over a store from `make_store`; name each raw secret found in what it keeps.

    What it keeps is everything readable through the port plus `dump(store)` (e.g. every table of
    a database, as text or bytes), or `store.dump()` when the store is a `DumpableStore`. The store
    is closed with `close_store` afterwards.
    """
    store = make_store()
    try:
        found_secrets, ids = run_flows(store, settings)
        kept = port_dump(store, ids).encode()
        more = dump(store) if dump is not None else (
            store.dump() if isinstance(store, DumpableStore) else b"")
    finally:
        close_store(store)
    kept += b"\n" + (more if isinstance(more, bytes) else more.encode())
    return sorted({f"{what} readable at rest" for s, what in found_secrets.items() if _found(s, kept)})


def _found(secret: str, kept: bytes) -> bool:
    """Short secrets (PINs, codes) count only as a whole word; longer ones in any common encoding."""
    if len(secret) <= SHORT:
        return secret.encode() in set(re.findall(rb"[A-Za-z0-9]+", kept))
    lowered = kept.lower()
    return any(form.lower() in lowered for form in _forms(secret))
