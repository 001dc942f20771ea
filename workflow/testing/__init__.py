"""The test kit for the engine and third-party adapters: clock, phone, strategies, contracts."""

from workflow.testing.clock import FakeClock
from workflow.testing.coverage import COVERAGE, Coverage
from workflow.testing.faults import FaultyDirectory, FaultyMailer, FaultySms, FaultyStore
from workflow.testing.machine import ActivationMachine
from workflow.testing.phone import code_from, payload_from
from workflow.testing.port_contracts import DirectoryContract, MailerContract, SmsContract
from workflow.testing.requirements import REQUIREMENTS, requirement
from workflow.testing.sink_contract import EventSinkContract
from workflow.testing.store_contract import StoreContract

__all__ = [
    "COVERAGE",
    "REQUIREMENTS",
    "ActivationMachine",
    "Coverage",
    "DirectoryContract",
    "EventSinkContract",
    "FakeClock",
    "FaultyDirectory",
    "FaultyMailer",
    "FaultySms",
    "FaultyStore",
    "MailerContract",
    "SmsContract",
    "StoreContract",
    "code_from",
    "payload_from",
    "requirement",
]
