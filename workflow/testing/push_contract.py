"""`PushContract`: the tests every login push gateway passes, fake or real; subclass it with
your gateway's factory.

    class TestMyPush(PushContract):
        def make_gateway(self): return MyPush(...)
        def delivered(self, gateway): return what_the_far_side_received()  # Push values
        def make_unreachable_gateway(self): return MyPush(down)            # optional
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import pytest

from workflow.errors import DeliveryFailed
from workflow.messages import Push
from workflow.ports import PushGateway
from workflow.testing.requirements import requirement

DEVICE = "phone-registration-1"


def sample_push(device: str = DEVICE, client_name: str = "Portail de santé PACA",
                binding_message: str = "A7-3F") -> Push:
    """A push as the dispatcher makes it: a login id, a portal's name, a binding message."""
    return Push(device, "lg-" + secrets.token_hex(16), client_name, binding_message,
                secrets.token_hex(16))


class PushContract:
    """What the engine relies on from a `PushGateway`; pytest runs it in each `Test...` subclass."""

    def make_gateway(self) -> PushGateway:
        """A fresh gateway whose far side is up."""
        raise NotImplementedError

    def delivered(self, gateway: PushGateway) -> Sequence[Push]:
        """The pushes the far side received so far, oldest first."""
        raise NotImplementedError

    def make_unreachable_gateway(self) -> PushGateway | None:
        """A gateway whose far side is down, or None to skip that test."""
        return None

    @requirement("REQ-4-DELIVERY")
    def test_the_gateway_implements_the_port(self) -> None:
        """The gateway is a `PushGateway` (it has `send`)."""
        assert isinstance(self.make_gateway(), PushGateway)

    @requirement("REQ-4-DELIVERY", "REQ-6-AT-LEAST-ONCE")
    def test_an_accepted_push_arrives_once_whole(self) -> None:
        """Once `send` returns, the far side holds that one push: device, login, name, binding, id."""
        gateway, push = self.make_gateway(), sample_push()
        gateway.send(push)
        assert list(self.delivered(gateway)) == [push]

    @requirement("REQ-1-WORDING", "REQ-4-DELIVERY")
    def test_pushes_arrive_in_order_with_accents_intact(self) -> None:
        """Two pushes arrive in the order sent, the portal's accented name unchanged."""
        gateway = self.make_gateway()
        first, second = sample_push(), sample_push()
        gateway.send(first)
        gateway.send(second)
        got = list(self.delivered(gateway))
        assert [p.login_id for p in got] == [first.login_id, second.login_id]
        assert got[0].client_name == "Portail de santé PACA"

    @requirement("REQ-4-DELIVERY", "REQ-5-NO-LEAK")
    def test_each_push_reaches_its_own_device_whole(self) -> None:
        """Pushes of several logins to several devices, one after the other: each arrives at its
        own device only, with its own login, portal and binding message (a stale binding message
        would defeat the comparison of the two screens)."""
        gateway = self.make_gateway()
        sent = [sample_push(DEVICE, "Portail de santé PACA", "A7-3F"),
                sample_push("phone-registration-2", "Téléservice Ameli Pro", "K2-9D"),
                sample_push(DEVICE, "Hôpital Nord — DPI", "Q5-1B"),
                sample_push("phone-registration-3", "Portail de santé PACA", "Z8-4C")]
        for push in sent:
            gateway.send(push)
        got = list(self.delivered(gateway))
        assert len(got) == len(sent), f"{len(sent)} pushes were accepted and {len(got)} arrived"
        for n, (g, s) in enumerate(zip(got, sent, strict=True), start=1):
            assert g == s, f"push {n} of {len(sent)} arrived as {g}, sent as {s}"

    @requirement("REQ-4-DELIVERY", "REQ-4-ERRORS", "REQ-5-NO-LEAK")
    def test_an_unreachable_far_side_is_a_transient_failure(self) -> None:
        """A far side that is down raises `DeliveryFailed(transient=True)`, naming no login."""
        gateway = self.make_unreachable_gateway()
        if gateway is None:
            pytest.skip("this gateway has no unreachable form")
        push = sample_push()
        with pytest.raises(DeliveryFailed) as caught:
            gateway.send(push)
        assert caught.value.transient
        assert push.binding_message not in str(caught.value)
