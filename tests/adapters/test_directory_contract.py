"""The directory contract over the static directory, JSON and CSV files, and the FHIR directory
against a local stub of the Annuaire Santé API (contacts in the answer or from a second source)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from adapters.directory import FhirDirectory, FileDirectory, StaticDirectory
from tests.integration.fhir_stub import FhirStub
from tests.integration.smtp_stub import free_port
from workflow.errors import DirectoryUnavailable
from workflow.messages import DirectoryEntry
from workflow.ports import Directory
from workflow.testing.port_contracts import DirectoryContract


class TestStaticDirectory(DirectoryContract):
    """Entries in memory."""

    def make_directory(self, entries: Sequence[DirectoryEntry]) -> Directory:
        return StaticDirectory(entries)


class TestJsonFileDirectory(DirectoryContract):
    """A JSON file: `{"professionals": [...]}` with nulls for missing contacts."""

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def make_directory(self, entries: Sequence[DirectoryEntry]) -> Directory:
        path = self.folder / "directory.json"
        rows = [{"national_id": e.national_id, "email": e.email, "phone": e.phone, "name": e.name}
                for e in entries]
        path.write_text(json.dumps({"professionals": rows}, ensure_ascii=False), encoding="utf-8")
        return FileDirectory(path)

    def make_unavailable_directory(self) -> Directory | None:
        return FileDirectory(self.folder / "missing.json")


class TestCsvFileDirectory(TestJsonFileDirectory):
    """A CSV file with a header row and empty cells for missing contacts."""

    def make_directory(self, entries: Sequence[DirectoryEntry]) -> Directory:
        path = self.folder / "directory.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["national_id", "email", "phone", "name"])
            writer.writerows([e.national_id, e.email or "", e.phone or "", e.name] for e in entries)
        return FileDirectory(path)

    def make_unavailable_directory(self) -> Directory | None:
        path = self.folder / "broken.csv"
        path.write_bytes(b"national_id,email\n\xff\xfe not utf-8\n")
        return FileDirectory(path)


class TestFhirDirectory(DirectoryContract):
    """The FHIR API with the contacts in each practitioner's `telecom`."""

    @pytest.fixture(autouse=True)
    def _stubs(self) -> Iterator[None]:
        self.stubs: list[FhirStub] = []
        yield
        for stub in self.stubs:
            stub.stop()

    def stub(self, entries: Sequence[DirectoryEntry]) -> FhirStub:
        stub = FhirStub(entries).start()
        self.stubs.append(stub)
        return stub

    def make_directory(self, entries: Sequence[DirectoryEntry]) -> Directory:
        return FhirDirectory(self.stub(entries).base_url, timeout=5)

    def make_unavailable_directory(self) -> Directory | None:
        return FhirDirectory(f"http://127.0.0.1:{free_port()}/fhir", timeout=2)


class TestFhirDirectoryWithRestrictedContacts(TestFhirDirectory):
    """The public API (no contacts) plus a second, restricted endpoint that holds them."""

    def make_directory(self, entries: Sequence[DirectoryEntry]) -> Directory:
        public = self.stub([DirectoryEntry(e.national_id, None, None, e.name) for e in entries])
        restricted = FhirDirectory(self.stub(entries).base_url, timeout=5)
        return FhirDirectory(public.base_url, contacts=restricted.contacts, timeout=5)

    def make_unavailable_directory(self) -> Directory | None:
        public = self.stub([DirectoryEntry("899700366240", None, None, "Dr Jane Doe")])
        down = FhirDirectory(f"http://127.0.0.1:{free_port()}/fhir", timeout=2)
        return FhirDirectory(public.base_url, contacts=down.contacts, timeout=5)


@pytest.mark.parametrize(("name", "content"), [("directory.json", b"this is not JSON\n"),
                                               ("directory.json", b'{"professionals": [1, '),
                                               ("directory.csv", b"nid,mail\n1,a\n"),
                                               ("directory", b"not json, not a directory\n")])
def test_a_malformed_directory_file_is_unavailable_not_empty(tmp_path: Path, name: str,
                                                             content: bytes) -> None:
    """A file that is neither a JSON list nor a CSV with the identifier's column is reported as
    a directory that cannot answer (a configuration problem), never as an empty directory that
    makes everyone not eligible."""
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DirectoryUnavailable):
        FileDirectory(tmp_path / name).lookup("899700366240")
