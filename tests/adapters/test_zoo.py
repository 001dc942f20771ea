"""The zoo: every deliberately broken adapter is caught by the kit (contracts, machine, linearizability,
secrets at rest), and the sound adapter it derives from passes the same checks."""

from __future__ import annotations

import textwrap

import pytest
import zxingcpp
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from adapters.memory import MemoryStore
from tests.adapters.zoo import delivery, planted, stores
from workflow.testing.at_rest import secrets_at_rest
from workflow.testing.linearizability import (
    Record,
    Scenario,
    assert_linearizable,
    check_linearizable,
    linearize,
    replay,
)
from workflow.testing.machine import ActivationMachine
from workflow.testing.port_contracts import MailerContract
from workflow.testing.store_contract import StoreContract

# Imported here, before pytester snapshots sys.modules: the QR decoder's native module cannot be
# imported twice in one process (a session that imported it first would drop it, and the next
# one's import aborts the interpreter), and the kits import it only when they decode.
KITS = (MailerContract, StoreContract, zxingcpp)

pytest_plugins = ["pytester"]

STORE = """
from workflow.testing.store_contract import StoreContract
from {module} import {name}

class TestKit(StoreContract):
    def make_store(self):
        return {name}()
"""
MAILER = """
from adapters.memory import MemoryMailer
from workflow.testing.port_contracts import MailerContract
from {module} import {name}

class TestKit(MailerContract):
    def make_mailer(self):
        return {name}()

    def delivered(self, mailer):
        return list(mailer.sent)

    def make_unreachable_mailer(self):
        return {unreachable}()
"""
SMS = """
from workflow.testing.port_contracts import SmsContract
from {module} import {name}

class TestKit(SmsContract):
    def make_gateway(self):
        return {name}()

    def delivered(self, gateway):
        return list(gateway.sent)
"""
DIRECTORY = """
from workflow.testing.port_contracts import DirectoryContract
from {module} import {name}

class TestKit(DirectoryContract):
    def make_directory(self, entries):
        return {name}(entries)
"""

# broken adapter -> (contract module template, the contract tests that must report it)
CONTRACT_ZOO = {
    "LostUpdateStore": (STORE, {"test_concurrent_writers_of_one_version_have_one_winner"}),
    "VersionBlindStore": (STORE, {"test_compare_and_set_on_the_version",
                                  "test_inserting_an_existing_id_conflicts_and_applies_nothing"}),
    "HalfCommitStore": (STORE, {"test_a_change_applies_whole_or_not_at_all"}),
    "OutboxDroppingStore": (STORE, {"test_outbox_messages_are_upserted_by_id",
                                    "test_claim_takes_due_pending_messages_oldest_due_first"}),
    "NaiveTimeStore": (STORE, {"test_times_come_back_aware_utc_and_exact",
                               "test_any_activation_round_trips"}),
    "SharedObjectStore": (STORE, {"test_reads_are_copies"}),
    "LeaselessStore": (STORE, {"test_a_claim_holds_for_its_lease"}),
    "UnorderedAuditStore": (STORE, {"test_audit_events_are_appended_and_read_by_seq"}),
    "ExclusiveExpiryStore": (STORE, {"test_due_for_expiry_is_inclusive_ordered_and_limited"}),
    "PayloadKeepingStore": (STORE, {"test_outbox_messages_are_upserted_by_id"}),
    "AttachmentDroppingMailer": (MAILER, {"test_the_qr_png_is_attached_and_decodes_to_the_payload"}),
    "DoubleSendingMailer": (MAILER, {"test_an_accepted_email_reaches_its_recipient_once"}),
    "FreshIdMailer": (MAILER, {"test_a_retried_message_keeps_its_message_id"}),
    "RepeatDroppingMailer": (MAILER, {"test_every_accepted_email_arrives_in_order"}),
    "TurnBlindStore": (STORE, {"test_a_turn_is_compared_and_set",
                               "test_a_stale_turn_applies_nothing_of_its_change",
                               "test_concurrent_turns_of_one_subject_have_one_winner"}),
    "PagelessStepsStore": (STORE, {"test_steps_page_by_number"}),
    "SilentSms": (SMS, {"test_an_accepted_sms_reaches_its_number_once_with_its_id"}),
    "RepeatDroppingSms": (SMS, {"test_every_accepted_sms_arrives_in_order"}),
    "ReferenceAddingSms": (SMS, {"test_the_code_is_the_only_number_of_its_length"}),
    "WrongPersonDirectory": (DIRECTORY, {"test_an_unknown_or_near_identifier_is_none"}),
    "BlankContactDirectory": (DIRECTORY, {"test_missing_contacts_are_none"}),
    "FieldDroppingStore": (STORE, {"test_an_activation_reads_back_equal_field_by_field"}),
    "SharedListStore": (STORE, {"test_reads_are_copies"}),
    "CursorlessStore": (STORE, {"test_list_activations_pages_from_a_cursor"}),
    "CappedStepsStore": (STORE, {"test_steps_page_by_number"}),
    "WholeSecondStore": (STORE, {"test_requests_since_counts_from_the_bound_inclusive"}),
    "QrReusingMailer": (MAILER, {"test_every_accepted_email_arrives_in_order"}),
    "NumberingSms": (SMS, {"test_every_accepted_sms_arrives_in_order"}),
    "LastHitDirectory": (DIRECTORY, {"test_an_unknown_or_near_identifier_is_none"}),
    "StickyRecipientMailer": (MAILER, {"test_each_email_reaches_its_own_recipient_with_its_own_qr"}),
    "StickyNumberSms": (SMS, {"test_each_sms_reaches_its_own_number_with_its_own_code"}),
    "NumericCodeSms": (SMS, {"test_a_code_that_begins_with_zeros_keeps_them"}),
    "ParisTimesStore": (STORE, {"test_every_time_read_back_is_in_utc"}),
}
ROUND_TRIP = "test_any_activation_round_trips"
SOUND = {STORE: "MemoryStore", MAILER: "MemoryMailer", SMS: "MemorySms", DIRECTORY: "StaticDirectory"}


def _failed(pytester: pytest.Pytester, template: str, name: str, module: str,
            unreachable: str = "RawErrorMailer", expected: frozenset[str] | set[str] = frozenset(),
            ) -> set[str]:
    """Run the contract over adapter `name` in a fresh pytest session; the names of the tests that failed.

    The property-based round trip runs only where it is expected to fail: shrinking its failures elsewhere
    costs tens of seconds and proves nothing more.
    """
    pytester.makepyfile(test_kit=textwrap.dedent(template.format(module=module, name=name,
                                                                 unreachable=unreachable)))
    args = ["-p", "no:cacheprovider", "-p", "no:asyncio", "-q"]
    if ROUND_TRIP not in expected:
        args += ["-k", f"not {ROUND_TRIP}"]
    recorder = pytester.inline_run(*args)
    passed, _, failed = recorder.listoutcomes()
    assert passed or failed, "the contract ran no test"
    return {r.nodeid.split("::")[-1].split("[")[0] for r in failed}


def _module(name: str) -> str:
    return (stores if hasattr(stores, name) else delivery).__name__


@pytest.mark.parametrize("name", sorted(CONTRACT_ZOO))
def test_each_broken_adapter_fails_its_contract(pytester: pytest.Pytester, name: str) -> None:
    """The contract suite reports the broken adapter, in the very tests that name its bug."""
    template, expected = CONTRACT_ZOO[name]
    failed = _failed(pytester, template, name, _module(name), expected=expected)
    assert expected <= failed, f"{name}: expected {sorted(expected)} to fail, failed: {sorted(failed)}"


@pytest.mark.parametrize("template", [STORE, MAILER, SMS, DIRECTORY],
                         ids=["store", "mailer", "sms", "directory"])
def test_the_sound_adapters_pass_the_same_contracts(pytester: pytest.Pytester, template: str) -> None:
    """The adapters the zoo derives from pass every contract test the zoo runs."""
    assert _failed(pytester, template, SOUND[template], "adapters.memory", "RawErrorMailer",
                   {ROUND_TRIP}) == (
        {"test_an_unreachable_far_side_is_a_transient_failure"} if template == MAILER else set())


def test_a_mailer_leaking_raw_errors_fails_its_contract(pytester: pytest.Pytester) -> None:
    """A mailer that lets a socket error escape, naming the recipient, fails the unreachable test."""
    failed = _failed(pytester, MAILER, "MemoryMailer", "adapters.memory", "RawErrorMailer")
    assert failed == {"test_an_unreachable_far_side_is_a_transient_failure"}


FAST = settings(max_examples=25, stateful_step_count=20, deadline=None, database=None,
                derandomize=True, phases=[Phase.generate], report_multiple_bugs=False,
                suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("name", ["ReorderedHistoryStore", "OutboxDroppingStore", "SharedObjectStore"])
def test_the_machine_catches_broken_stores(name: str) -> None:
    """The stateful `ActivationMachine` over the broken store finds a step where it disagrees."""
    machine = ActivationMachine.configure(make_store=getattr(stores, name))
    with pytest.raises(Exception) as caught:
        run_state_machine_as_test(machine, settings=FAST)
    assert not isinstance(caught.value, (KeyboardInterrupt, *planted.STALE))  # the bug, not a crash


def test_the_machine_passes_over_the_sound_store() -> None:
    """The same machine run over `MemoryStore` finds nothing."""
    run_state_machine_as_test(ActivationMachine.configure(make_store=MemoryStore), settings=FAST)


def test_linearizability_mode_catches_lost_updates() -> None:
    """Racing wrong codes on the lost-update store end in a state no serial order gives."""
    scenario = Scenario("scanned", (("verify_sms:wrong",), ("verify_sms:wrong",), ("verify_sms:wrong",)))
    verdicts = [check_linearizable(stores.LostUpdateStore, scenario, reference=MemoryStore)
                for _ in range(5)]
    assert not all(v.ok for v in verdicts)


def test_secrets_at_rest_catches_a_store_keeping_clear_text() -> None:
    """A store that keeps decrypted contacts and messages shows raw e-mail, phone, token and code."""
    found = secrets_at_rest(stores.ClearTextStore)
    assert {"full e-mail readable at rest", "full phone readable at rest", "QR token readable at rest",
            "SMS code readable at rest"} <= set(found)
    assert secrets_at_rest(MemoryStore) == []


@pytest.mark.parametrize("planted", planted.TABLE, ids=[p.bug for p in planted.TABLE])
def test_every_planted_bug_is_caught(planted: planted.Planted) -> None:
    """Each bug of the planted-bug table fails the check of the kit that names it (unshrunk, to save time)."""
    assert planted.detector(planted.store, False) is not None, f"{planted.bug}: not caught"


def test_a_store_that_drops_rows_gets_a_sentence_not_an_index_error() -> None:
    """Without SMS rows the harness says what is missing, in linearizability mode and at rest."""
    scenario = Scenario("scanned", (("verify_sms:right",), ("verify_sms:wrong",)))
    with pytest.raises(AssertionError, match="no SMS was delivered"):
        check_linearizable(stores.SmsDroppingStore, scenario, reference=MemoryStore)
    with pytest.raises(AssertionError, match="no SMS was delivered"):
        secrets_at_rest(stores.SmsDroppingStore)


class CountingStore(MemoryStore):
    """A store that counts the stores opened and not yet closed, as a connection pool would."""

    open = 0

    def __init__(self) -> None:
        super().__init__()
        type(self).open += 1

    def close(self) -> None:
        """Give the connection back."""
        type(self).open -= 1


def test_every_entry_point_closes_what_it_opens() -> None:
    """The machine, both linearizability checks and the at-rest search leave no store open."""
    CountingStore.open = 0
    run_state_machine_as_test(ActivationMachine.configure(make_store=CountingStore),
                              settings=settings(FAST, max_examples=5))
    scenario = Scenario("scanned", (("verify_sms:wrong",), ("cancel",)))
    check_linearizable(CountingStore, scenario, reference=CountingStore)
    assert_linearizable(CountingStore, scenario, reference=CountingStore)
    assert secrets_at_rest(CountingStore) == []
    assert CountingStore.open == 0


def test_a_failure_explains_itself() -> None:
    """The verdict names the scenario, the start state, each result and what each serial order changes."""
    results, observed = replay("scanned", ["verify_sms:wrong"], MemoryStore)
    records = [Record(i, i, "verify_sms:wrong", 0, 10, results[0]) for i in (0, 1)]
    text = linearize(records, observed, "scanned", reference=MemoryStore,
                     scenario="two wrong codes").explain()
    assert "scenario two wrong codes" in text
    assert "start state: scanned" in text
    assert "#1 thread 1: verify_sms:wrong -> VerificationFailed left=4" in text
    assert "would give 'VerificationFailed left=3'" in text
    _, other = replay("scanned", ["cancel"], MemoryStore)
    lost = linearize([Record(0, 0, "verify_sms:wrong", 0, 10, results[0])], other, "scanned",
                     reference=MemoryStore).explain()
    assert "same results, but it leaves a different state, history" in lost
    assert "audit" in lost
    assert "scenario=," not in repr(Scenario("scanned", (("cancel",),)))
    assert Scenario("scanned", (("cancel",), ("resend_sms",))).name == "from scanned: cancel | resend_sms"
