"""A local stub of the Annuaire Santé FHIR API: `GET /fhir/Practitioner?identifier=<system>|<id>`
answers a searchset Bundle built from `DirectoryEntry` values (plus a decoy practitioner)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from adapters.directory import RPPS_SYSTEM
from tests.integration.sms_http_stub import Answer, HttpStub, Request
from workflow.messages import DirectoryEntry

DECOY = "810000101237"


def practitioner(entry: DirectoryEntry, *, structured_name: bool = False) -> dict[str, object]:
    """The FHIR Practitioner of `entry`, contacts as `telecom` (only those it holds)."""
    telecom = [{"system": "email", "value": entry.email, "use": "work"}] if entry.email else []
    if entry.phone:
        telecom.append({"system": "phone", "value": entry.phone, "use": "mobile"})
    telecom.append({"system": "phone", "value": "0140000000", "use": "work"})
    prefix, _, rest = entry.name.partition(" ")
    given, _, family = rest.partition(" ")
    name = ({"prefix": [prefix], "given": [given], "family": family} if structured_name
            else {"text": entry.name})
    return {
        "resourceType": "Practitioner",
        "id": f"003-{entry.national_id}",
        "active": True,
        "identifier": [
            {"system": "http://rpps.fr", "value": entry.national_id[1:]},
            {"system": RPPS_SYSTEM, "value": entry.national_id,
             "type": {"coding": [{"code": "IDNPS"}]}},
        ],
        "name": [name],
        "telecom": telecom,
    }


def bundle(resources: Iterable[dict[str, object]]) -> bytes:
    """A searchset Bundle of `resources`."""
    entries = [{"fullUrl": f"Practitioner/{r['id']}", "resource": r} for r in resources]
    return json.dumps({"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                       "entry": entries}).encode()


class FhirStub(HttpStub):
    """The directory holding `entries`; each answer also carries a decoy with another identifier."""

    def __init__(self, entries: Iterable[DirectoryEntry] = ()) -> None:
        self.entries = {e.national_id: e for e in entries}
        super().__init__(self._search)

    @property
    def base_url(self) -> str:
        """The FHIR base URL."""
        return self.url + "/fhir"

    def _search(self, request: Request) -> Answer:
        if request.path != "/fhir/Practitioner":
            return Answer(404, b'{"resourceType": "OperationOutcome"}')
        system, _, nid = (request.query.get("identifier") or [""])[0].partition("|")
        decoy = practitioner(DirectoryEntry(DECOY, "decoy@domain.fr", "0639980099", "Dr Decoy X"))
        found = [practitioner(self.entries[nid])] if system == RPPS_SYSTEM and nid in self.entries else []
        return Answer(200, bundle([decoy, *found]), {"Content-Type": "application/fhir+json"})
