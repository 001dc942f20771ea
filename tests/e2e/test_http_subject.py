"""Concurrent requests for one identifier through a real server (uvicorn) on loopback."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from adapters.device import DeviceKey
from tests.e2e.phone import NID, Phone
from tests.e2e.test_http_concurrency import together
from workflow import State
from workflow.definition import DEFINITION
from workflow.domain import MessageKind

REQUESTS = 50


@pytest.mark.address_rate(1000)
def test_fifty_posts_for_one_identifier_create_five_flows(served: tuple[Phone, str]) -> None:
    """50 POST /activations at once for one identifier: five 201, the rest 429, one flow in flight."""
    phone, base = served
    limits = httpx.Limits(max_connections=REQUESTS)
    body = {"national_id": NID, "device_key": DeviceKey.generate().public_jwk}
    with httpx.Client(base_url=base, timeout=120, limits=limits) as http:
        answers = together([lambda: http.post("/activations", json=body) for _ in range(REQUESTS)])
    assert Counter(r.status_code for r in answers) == {201: 5, 429: REQUESTS - 5}
    store, subject = phone.svc.store, phone.svc.keys.pseudonym(NID)
    flows = store.find(subject, set(State))
    assert len(flows) == 5
    assert len(store.find(subject, DEFINITION.in_flight)) == 1
    for a in flows:
        assert [m.kind for m in store.outbox_of(a.id)].count(MessageKind.ACTIVATION_EMAIL) == 1

