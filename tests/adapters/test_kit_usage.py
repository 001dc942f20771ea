"""The usage of docs/testing.md, run as written (memory adapters stand in for a third party's)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import settings

from adapters.memory import MemoryMailer, MemoryStore  # stand-ins for your own adapters
from workflow.messages import Email
from workflow.ports import Mailer, Store
from workflow.testing import ActivationMachine, MailerContract, StoreContract


class TestMyStore(StoreContract):
    def make_store(self) -> Store:
        return MemoryStore()


class TestMyMailer(MailerContract):
    def make_mailer(self) -> Mailer:
        return MemoryMailer()

    def delivered(self, mailer: Mailer) -> Sequence[Email | bytes]:
        assert isinstance(mailer, MemoryMailer)
        return mailer.sent


TestMyStoreMachine = ActivationMachine.configure(make_store=MemoryStore).TestCase

# The stateful suite over MemoryStore already runs in tests/property/test_machine.py: here a few examples show
# the usage works without running it twice in full.
TestMyStoreMachine.settings = settings(max_examples=10, stateful_step_count=20, deadline=None)
