"""The FHIR directory against a local stub of the Annuaire Santé API: found with contacts, found
without phone, not found, 500, invalid JSON, malformed bundles, slow; requests fail closed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from adapters.directory import RPPS_SYSTEM, Contacts, FhirDirectory
from adapters.memory import MemoryMailer, MemorySms, MemoryStore
from tests.conftest import NID, NID2, fast_settings
from tests.integration.fhir_stub import DECOY, FhirStub, bundle, practitioner
from tests.integration.sms_http_stub import Answer
from tests.integration.smtp_stub import free_port
from workflow import ActivationService, State
from workflow.errors import DirectoryUnavailable, NotEligible
from workflow.messages import DirectoryEntry
from workflow.testing import FakeClock

JANE = DirectoryEntry(NID, "jane.doe@domain.fr", "0639980078", "Dr Jane Doe")
NO_PHONE = DirectoryEntry(NID2, "paul.martin@domain.fr", None, "Paul Martin")


@pytest.fixture
def stub() -> Iterator[FhirStub]:
    """The directory holding Jane (all contacts) and Paul (no mobile)."""
    s = FhirStub([JANE, NO_PHONE]).start()
    yield s
    s.stop()


def _directory(stub: FhirStub, **options: object) -> FhirDirectory:
    return FhirDirectory(stub.base_url, timeout=0.5, **options)  # type: ignore[arg-type]


def _service(directory: FhirDirectory) -> tuple[ActivationService, MemoryStore]:
    store = MemoryStore()
    return ActivationService(store=store, mailer=MemoryMailer(), sms=MemorySms(),
                             directory=directory, clock=FakeClock(),
                             settings=fast_settings()), store


def _unavailable(directory: FhirDirectory) -> DirectoryUnavailable:
    with pytest.raises(DirectoryUnavailable) as caught:
        directory.lookup(NID)
    assert NID not in str(caught.value)
    return caught.value


def test_found_with_contacts(stub: FhirStub) -> None:
    """The practitioner of that identifier comes back with its e-mail, mobile and name."""
    assert _directory(stub).lookup(NID) == JANE


def test_the_query_is_the_annuaire_sante_search(stub: FhirStub) -> None:
    """One GET `Practitioner?identifier=urn:oid:1.2.250.1.71.4.2.1|<8 + RPPS>`, FHIR JSON, API key."""
    _directory(stub, api_key="esante-key").lookup(NID)
    (request,) = stub.requests
    assert (request.method, request.path) == ("GET", "/fhir/Practitioner")
    assert request.query == {"identifier": [f"{RPPS_SYSTEM}|{NID}"]}
    assert request.headers["Accept"] == "application/fhir+json"
    assert request.headers["ESANTE-API-KEY"] == "esante-key"


def test_found_without_phone(stub: FhirStub) -> None:
    """A practitioner with no mobile of record has `phone=None` (a landline is not a mobile)."""
    assert _directory(stub).lookup(NID2) == NO_PHONE


def test_found_without_phone_is_not_eligible_through_the_service(stub: FhirStub) -> None:
    """The request is refused as not eligible and nothing is stored."""
    svc, store = _service(_directory(stub))
    with pytest.raises(NotEligible, match="mobile"):
        svc.request(NID2)
    assert store.list_activations() == []


def test_not_found(stub: FhirStub) -> None:
    """An identifier the directory does not hold is None, though the bundle holds a decoy."""
    assert _directory(stub).lookup("810000090125") is None
    svc, _ = _service(_directory(stub))
    with pytest.raises(NotEligible):
        svc.request("810000090125")


def test_found_through_the_service_starts_an_activation(stub: FhirStub) -> None:
    """A known practitioner with contacts can start an activation, contacts masked."""
    svc, _ = _service(_directory(stub))
    started = svc.request(NID)
    assert (started.state, started.masked_email, started.masked_phone) == (
        State.REQUESTED, "ja****@domain.fr", "06****78")


@pytest.mark.parametrize("answer", [
    Answer(500, b'{"resourceType": "OperationOutcome"}'),
    Answer(503, b"Service Unavailable", {"Content-Type": "text/html"}),
    Answer(200, b"<html>proxy error</html>", {"Content-Type": "text/html"}),
    Answer(200, b'{"resourceType": "Bundle", "entry": [', {}),
    Answer(delay=1.5),
], ids=["500", "503-html", "200-html", "truncated-json", "slow"])
def test_server_errors_invalid_json_and_slowness_are_unavailable(stub: FhirStub,
                                                                 answer: Answer) -> None:
    """5xx, a body that is not JSON, and no answer in time are transient `DirectoryUnavailable`."""
    stub.answer(answer)
    assert _unavailable(_directory(stub)).transient


@pytest.mark.parametrize("body", [
    {"resourceType": "OperationOutcome"},
    [],
    {"resourceType": "Bundle", "entry": {"resource": {}}},
    {"resourceType": "Bundle", "entry": ["x"]},
    {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Practitioner",
                                                       "identifier": "8997"}}]},
], ids=["outcome", "list", "entry-object", "entry-text", "identifier-text"])
def test_a_malformed_bundle_is_unavailable(stub: FhirStub, body: object) -> None:
    """Anything but a well-formed searchset Bundle is `DirectoryUnavailable`, not `None`."""
    stub.answer(Answer(200, json.dumps(body).encode()))
    _unavailable(_directory(stub))


def test_two_practitioners_with_one_identifier_is_unavailable(stub: FhirStub) -> None:
    """An ambiguous answer is refused rather than guessed."""
    twin = practitioner(DirectoryEntry(NID, "other@domain.fr", "0639980011", "Dr Other"))
    stub.answer(Answer(200, bundle([practitioner(JANE), twin])))
    assert not _unavailable(_directory(stub)).transient


def test_an_answer_too_large_is_unavailable(stub: FhirStub) -> None:
    """A body past `MAX_ANSWER` (a broken or hostile directory) is a permanent
    `DirectoryUnavailable`: the client stops reading past the cap."""
    from adapters.directory import MAX_ANSWER

    padding = b" " * (4 * MAX_ANSWER)
    stub.answer(Answer(200, bundle([practitioner(JANE)])[:-1] + padding + b"}"))
    caught = _unavailable(_directory(stub))
    assert not caught.transient
    assert "larger than 1024 KiB" in str(caught)
    stub.answer(Answer(200, bundle([practitioner(JANE)])[:-1] + b" " * 1000 + b"}"))
    assert _directory(stub).lookup(NID) == JANE  # padded, but under the cap


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refused_or_misrouted_request_is_unavailable(stub: FhirStub, status: int) -> None:
    """A bad API key or a wrong base URL is a permanent `DirectoryUnavailable`."""
    stub.answer(Answer(status, b"{}"))
    assert not _unavailable(_directory(stub)).transient


def test_an_inactive_practitioner_is_not_found(stub: FhirStub) -> None:
    """`active: false` in the directory means the practitioner cannot activate."""
    resource = practitioner(JANE)
    resource["active"] = False
    stub.answer(Answer(200, bundle([resource])))
    assert _directory(stub).lookup(NID) is None


def test_a_structured_name_is_assembled(stub: FhirStub) -> None:
    """Without `text`, the name is prefix, given names and family name."""
    stub.answer(Answer(200, bundle([practitioner(JANE, structured_name=True)])))
    entry = _directory(stub).lookup(NID)
    assert entry is not None
    assert entry.name == "Dr Jane Doe"


def test_a_directory_that_is_down_fails_requests_closed() -> None:
    """Unreachable: the request raises `DirectoryUnavailable` and stores nothing."""
    directory = FhirDirectory(f"http://127.0.0.1:{free_port()}/fhir", timeout=1)
    assert _unavailable(directory).transient
    svc, store = _service(directory)
    with pytest.raises(DirectoryUnavailable):
        svc.request(NID)
    assert store.list_activations() == []


def test_contacts_come_from_the_restricted_source(stub: FhirStub) -> None:
    """With a contact source, the public answer gives the name and the source the contacts."""
    asked: list[str] = []

    def restricted(national_id: str) -> Contacts | None:
        asked.append(national_id)
        return Contacts("jane.private@domain.fr", "0639980001")

    entry = _directory(stub, contacts=restricted).lookup(NID)
    assert entry == DirectoryEntry(NID, "jane.private@domain.fr", "0639980001", "Dr Jane Doe")
    assert asked == [NID]


def test_a_source_without_contacts_gives_an_entry_without_contacts(stub: FhirStub) -> None:
    """A restricted source that holds nothing: the entry has no contacts; the request is refused."""
    directory = _directory(stub, contacts=lambda nid: None)
    assert directory.lookup(NID) == DirectoryEntry(NID, None, None, "Dr Jane Doe")
    svc, _ = _service(directory)
    with pytest.raises(NotEligible):
        svc.request(NID)


def test_the_source_is_not_asked_for_an_unknown_identifier(stub: FhirStub) -> None:
    """Contacts are only fetched for a practitioner the directory knows."""
    asked: list[str] = []
    directory = _directory(stub, contacts=asked.append)
    assert directory.lookup("810000090125") is None
    assert asked == []


@pytest.mark.parametrize("failure", [RuntimeError("boom"), DirectoryUnavailable("down")])
def test_a_failing_contact_source_is_unavailable(stub: FhirStub, failure: Exception) -> None:
    """A source that raises makes the lookup `DirectoryUnavailable` (fail closed)."""
    def broken(national_id: str) -> Contacts | None:
        raise failure

    _unavailable(_directory(stub, contacts=broken))


def test_a_source_answering_nonsense_is_unavailable(stub: FhirStub) -> None:
    """A source returning something else than `Contacts` or None is refused."""
    _unavailable(_directory(stub, contacts=lambda nid: ("jane@domain.fr", "06")))


def test_the_decoy_in_every_answer_is_never_returned_for_another_id(stub: FhirStub) -> None:
    """Only the practitioner bearing exactly the identifier asked is taken from the bundle."""
    entry = _directory(stub).lookup(NID)
    assert entry is not None
    assert entry.national_id == NID != DECOY
