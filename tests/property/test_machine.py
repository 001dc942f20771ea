"""The stateful property suite over memory adapters (the `ci` profile runs 200+ examples of 50 steps)."""

from __future__ import annotations

from adapters.memory import MemoryMailer, MemorySms, MemoryStore
from workflow.testing.machine import ActivationMachine

MemoryMachine = ActivationMachine.configure(make_store=MemoryStore, make_mailer=MemoryMailer,
                                            make_sms=MemorySms)
TestActivationMachineOnMemory = MemoryMachine.TestCase
