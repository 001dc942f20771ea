"""The test kit for the engine and third-party adapters: clock, phone, strategies, contracts."""

from workflow.testing.activation_driver import ActivationDriver
from workflow.testing.at_rest import secrets_at_rest
from workflow.testing.clock import FakeClock
from workflow.testing.conformance import (
    Conformance,
    Driver,
    Mismatch,
    Observed,
    assert_conforms,
    replay_model,
)
from workflow.testing.coverage import COVERAGE, Coverage
from workflow.testing.faults import FaultyDirectory, FaultyMailer, FaultySms, FaultyStore
from workflow.testing.linearizability import Scenario, assert_linearizable, check_linearizable, scenarios
from workflow.testing.login_driver import LoginDriver
from workflow.testing.login_store_contract import LoginStoreContract
from workflow.testing.machine import ActivationMachine
from workflow.testing.phone import code_from, payload_from
from workflow.testing.port_contracts import DirectoryContract, MailerContract, SmsContract
from workflow.testing.push_contract import PushContract
from workflow.testing.requirements import REQUIREMENTS, requirement
from workflow.testing.sink_contract import EventSinkContract
from workflow.testing.store_contract import StoreContract

__all__ = [
    "COVERAGE",
    "REQUIREMENTS",
    "ActivationDriver",
    "ActivationMachine",
    "Conformance",
    "Coverage",
    "DirectoryContract",
    "Driver",
    "EventSinkContract",
    "FakeClock",
    "FaultyDirectory",
    "FaultyMailer",
    "FaultySms",
    "FaultyStore",
    "LoginDriver",
    "LoginStoreContract",
    "MailerContract",
    "Mismatch",
    "Observed",
    "PushContract",
    "Scenario",
    "SmsContract",
    "StoreContract",
    "assert_conforms",
    "assert_linearizable",
    "check_linearizable",
    "code_from",
    "payload_from",
    "replay_model",
    "requirement",
    "scenarios",
    "secrets_at_rest",
]
