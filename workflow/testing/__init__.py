"""The test kit for the engine and third-party adapters: clock, phone, strategies, contracts."""

from workflow.testing.at_rest import secrets_at_rest
from workflow.testing.clock import FakeClock
from workflow.testing.coverage import COVERAGE, Coverage
from workflow.testing.faults import FaultyDirectory, FaultyMailer, FaultySms, FaultyStore
from workflow.testing.linearizability import Scenario, assert_linearizable, check_linearizable, scenarios
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
    "Scenario",
    "SmsContract",
    "StoreContract",
    "assert_linearizable",
    "check_linearizable",
    "code_from",
    "payload_from",
    "requirement",
    "scenarios",
    "secrets_at_rest",
]
