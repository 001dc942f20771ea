"""The file directory (JSON and CSV: reload on change, malformed files unavailable) and the demo's
shipped professionals, each giving through the service the outcome its note announces."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from adapters.directory import DEMO_DIRECTORY, FileDirectory, demo_directory
from adapters.memory import MemoryMailer, MemorySms, MemoryStore
from tests.conftest import fast_settings
from workflow import ActivationService, State
from workflow.errors import DirectoryUnavailable, InvalidIdentifier, NotEligible
from workflow.messages import DirectoryEntry
from workflow.security import luhn_ok
from workflow.testing import FakeClock

ACTIVATES = {"899700366240", "810100000008", "810000012343", "810000089010"}
NOT_ELIGIBLE = {
    "810000023456": "no e-mail", "810000034560": "no mobile", "810000045673": "no e-mail",
    "810000056787": "unusable", "810000067891": "unusable", "810000078906": "unusable",
    "0012807590": "card", "810000090125": "does not know",
}
LUHN_FAILS = "810002345678"


class SpyDirectory:
    """The demo directory, recording every identifier looked up."""

    def __init__(self) -> None:
        self.inner = demo_directory()
        self.asked: list[str] = []

    def lookup(self, national_id: str) -> DirectoryEntry | None:
        self.asked.append(national_id)
        return self.inner.lookup(national_id)


def _service(directory: object, **settings: object) -> ActivationService:
    return ActivationService(store=MemoryStore(), mailer=MemoryMailer(), sms=MemorySms(),
                             directory=directory, clock=FakeClock(),  # type: ignore[arg-type]
                             settings=fast_settings(**settings))


def test_the_demo_file_lists_every_case_once() -> None:
    """Every shipped identifier is covered by an expectation below, and only those."""
    rows = json.loads(DEMO_DIRECTORY.read_text(encoding="utf-8"))["professionals"]
    shipped = {r["national_id"] for r in rows}
    assert shipped == ACTIVATES | (set(NOT_ELIGIBLE) - {"810000090125"}) | {LUHN_FAILS}
    assert all(r["note"] for r in rows)


def test_the_sandbox_identity_is_there_with_email_and_mobile() -> None:
    """899700366240 holds an e-mail and a mobile of record."""
    entry = demo_directory().lookup("899700366240")
    assert entry is not None
    assert entry.email
    assert entry.phone


def test_shipped_identifiers_pass_the_luhn_check_except_the_sample_that_must_not() -> None:
    """All 12-digit identifiers but one carry a right Luhn key; that one is the failing sample."""
    rows = json.loads(DEMO_DIRECTORY.read_text(encoding="utf-8"))["professionals"]
    twelve = [r["national_id"] for r in rows if len(r["national_id"]) == 12]
    assert [n for n in twelve if not luhn_ok(n[1:])] == [LUHN_FAILS]
    assert luhn_ok("810000090125"[1:])


@pytest.mark.parametrize("nid", sorted(ACTIVATES))
def test_the_activating_professionals_complete_a_request(nid: str) -> None:
    """Each of them gets a request accepted, contacts masked."""
    started = _service(demo_directory()).request(nid)
    assert started.state == State.REQUESTED
    assert "****" in started.masked_email
    assert "****" in started.masked_phone


@pytest.mark.parametrize(("nid", "reason"), sorted(NOT_ELIGIBLE.items()))
def test_each_refusal_case_is_refused_for_its_reason(nid: str, reason: str) -> None:
    """No e-mail, no mobile, unusable contacts, ADELI, unknown: `NotEligible` with that reason."""
    with pytest.raises(NotEligible, match=reason):
        _service(demo_directory()).request(nid)


def test_adeli_is_refused_before_the_lookup() -> None:
    """The ADELI example never reaches the directory."""
    spy = SpyDirectory()
    with pytest.raises(NotEligible, match="card"):
        _service(spy).request("0012807590")
    assert spy.asked == []


def test_the_luhn_failing_sample_is_refused_unless_the_policy_is_off() -> None:
    """Refused as an invalid identifier before the lookup; accepted with the check off."""
    spy = SpyDirectory()
    with pytest.raises(InvalidIdentifier):
        _service(spy).request(LUHN_FAILS)
    assert spy.asked == []
    assert _service(spy, check_rpps_luhn=False).request(LUHN_FAILS).state == State.REQUESTED


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    """Editing the file changes the answers without a restart."""
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"national_id": "899700366240", "email": "a@b.fr",
                                 "phone": "0639980078", "name": "A"}]))
    directory = FileDirectory(path)
    assert directory.lookup("899700366240") is not None
    path.write_text(json.dumps([{"national_id": "810100000008", "email": None, "phone": None}]))
    os.utime(path, ns=(10**18, 10**18))
    assert directory.lookup("899700366240") is None
    assert directory.lookup("810100000008") == DirectoryEntry("810100000008", None, None, "")


@pytest.mark.parametrize(("name", "content"), [
    ("bad.json", b'{"professionals": [{"national_id": 899700366240}]}'),
    ("bad.json", b'{"professionals": {"national_id": "899700366240"}}'),
    ("bad.json", b'[{"national_id": "899700366240", "email": ["a@b.fr"]}]'),
    ("bad.json", b'[{"national_id": "899700366240"}, {"national_id": "899700366240"}]'),
    ("bad.json", b'[{"national_id": "899700366240"'),
    ("bad.json", b'["899700366240"]'),
    ("bad.csv", b"email,phone\na@b.fr,0639980078\n"),
    ("bad.csv", b"national_id,email\n899700366240,a@b.fr\n899700366240,c@d.fr\n"),
    ("bad.csv", b"national_id,email\n\xff\xfe\n"),
], ids=["number-id", "not-a-list", "email-list", "duplicate", "truncated", "bare-ids",
        "csv-no-id-column", "csv-duplicate", "csv-not-utf8"])
def test_a_malformed_file_is_unavailable(tmp_path: Path, name: str, content: bytes) -> None:
    """A file it cannot read right raises `DirectoryUnavailable`, never a guess, naming no id."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DirectoryUnavailable) as caught:
        FileDirectory(path).lookup("899700366240")
    assert "899700366240" not in str(caught.value)


def test_a_missing_file_fails_requests_closed(tmp_path: Path) -> None:
    """No file: the request raises `DirectoryUnavailable`."""
    with pytest.raises(DirectoryUnavailable):
        _service(FileDirectory(tmp_path / "none.json")).request("899700366240")


def test_a_csv_with_a_bom_and_blank_contacts_reads(tmp_path: Path) -> None:
    """A spreadsheet export (UTF-8 BOM, empty cells) gives None for missing contacts."""
    path = tmp_path / "d.csv"
    path.write_bytes("national_id,email,phone,name\r\n899700366240,,0639980078,Dr Hélène\r\n"
                     .encode("utf-8-sig"))
    assert FileDirectory(path).lookup("899700366240") == DirectoryEntry(
        "899700366240", None, "0639980078", "Dr Hélène")
