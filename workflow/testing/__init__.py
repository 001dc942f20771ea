"""The test kit for the engine and third-party adapters: clock, phone, strategies, contracts."""

from workflow.testing.clock import FakeClock
from workflow.testing.phone import code_from, payload_from

__all__ = ["FakeClock", "code_from", "payload_from"]
