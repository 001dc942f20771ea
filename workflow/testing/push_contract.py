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


def sample_push() -> Push:
    """A push as the dispatcher makes it: a login id, a portal's name, a binding message."""
    return Push(DEVICE, "lg-" + secrets.token_hex(16), "Portail de santé PACA", "A7-3F",
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
