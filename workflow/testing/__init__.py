"""The test kit for the engine and for third-party adapters: clock, strategies, contracts, machine."""

from workflow.testing.clock import FakeClock

__all__ = ["FakeClock"]
