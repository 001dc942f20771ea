"""Directory sources: in memory, a JSON or CSV file, and the Annuaire Santé FHIR API.

Each returns the entry of exactly the identifier asked, None when unknown, and raises
`DirectoryUnavailable` when it cannot tell (requests then fail closed).
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from adapters.memory import StaticDirectory
from workflow.errors import DirectoryUnavailable
from workflow.messages import DirectoryEntry

__all__ = ["DEMO_DIRECTORY", "RPPS_SYSTEM", "Contacts", "FhirDirectory", "FileDirectory",
           "StaticDirectory", "demo_directory"]

RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
DEMO_DIRECTORY = Path(__file__).parent / "data" / "directory.json"
FIELDS = ("national_id", "email", "phone", "name")
MAX_ANSWER = 1024 * 1024
"""Bytes of a FHIR answer read at most (one practitioner's search answer is a few KiB)."""


class FileDirectory:
    """A directory read from a JSON (list, or `{"professionals": [...]}`) or CSV file.

    Rows have `national_id`, `email`, `phone`, `name`; empty or null contacts are None.
    The file is read again when it changes; a missing or malformed file is unavailable.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._entries: dict[str, DirectoryEntry] = {}

    def lookup(self, national_id: str) -> DirectoryEntry | None:
        """The entry of `national_id` in the file, or None."""
        with self._lock:
            try:
                stat = self.path.stat()
                if self._seen != (stat.st_mtime_ns, stat.st_size):
                    self._entries = _index(self._rows(self.path.read_bytes()))
                    self._seen = (stat.st_mtime_ns, stat.st_size)
            except OSError as exc:
                raise DirectoryUnavailable(
                    f"cannot read the directory file ({type(exc).__name__})") from exc
            return self._entries.get(national_id)

    def _rows(self, data: bytes) -> list[Any]:
        try:
            text = data.decode("utf-8-sig")
            suffix = self.path.suffix.lower()
            if suffix == ".csv" or (suffix != ".json" and not text.lstrip().startswith(("[", "{"))):
                reader = csv.DictReader(io.StringIO(text, newline=""))
                if FIELDS[0] not in (reader.fieldnames or ()):
                    raise DirectoryUnavailable(f"the directory file has no {FIELDS[0]} column "
                                               "(CSV) and is not a JSON list", False)
                return list(reader)
            loaded = json.loads(text)
        except (ValueError, csv.Error) as exc:
            raise DirectoryUnavailable("the directory file is not valid UTF-8 JSON or CSV",
                                       False) from exc
        rows = loaded.get("professionals") if isinstance(loaded, dict) else loaded
        if not isinstance(rows, list):
            raise DirectoryUnavailable("the directory file holds no list of professionals", False)
        return rows


def demo_directory() -> FileDirectory:
    """The fictional professionals the demo ships (`adapters/data/directory.json`)."""
    return FileDirectory(DEMO_DIRECTORY)


def _index(rows: Iterable[Any]) -> dict[str, DirectoryEntry]:
    entries: dict[str, DirectoryEntry] = {}
    for n, row in enumerate(rows, 1):
        values = [row.get(f) if isinstance(row, Mapping) else 0 for f in FIELDS]
        texts = [v for v in values if isinstance(v, str)]
        if len(texts) != sum(v is not None for v in values) or not values[0]:
            raise DirectoryUnavailable(f"directory entry {n} is malformed", False)
        nid, email, phone, name = (v if isinstance(v, str) else "" for v in values)
        if nid in entries:
            raise DirectoryUnavailable(f"directory entry {n} repeats an identifier", False)
        entries[nid] = DirectoryEntry(nid, email or None, phone or None, name or "")
    return entries


@dataclass(frozen=True, slots=True)
class Contacts:
    """The non-public contact details of record; None for one the source does not hold."""

    email: str | None
    phone: str | None


ContactSource = Callable[[str], Contacts | None]


class FhirDirectory:
    """The Annuaire Santé FHIR API: `GET {base}/Practitioner?identifier=<system>|<id>`.

    The public API holds no contact details: `contacts` (a callable, e.g. another
    `FhirDirectory(...).contacts` on the restricted endpoint) supplies them; without it they
    come from the practitioner's `telecom` (e-mail, and a phone or SMS point of use mobile).
    """

    def __init__(self, base_url: str, *, contacts: ContactSource | None = None,
                 timeout: float = 5.0, api_key: str | None = None,
                 api_key_header: str = "ESANTE-API-KEY",
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Accept": "application/fhir+json"}
        if api_key:
            headers[api_key_header] = api_key
        self.base_url = base_url.rstrip("/")
        self._source = contacts
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport,
                                    follow_redirects=False)

    def __repr__(self) -> str:
        return f"FhirDirectory({self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def lookup(self, national_id: str) -> DirectoryEntry | None:
        """The practitioner of exactly `national_id` with its contacts, or None."""
        found = self._practitioner(national_id)
        if found is None:
            return None
        contacts = _telecom(found) if self._source is None else _ask(self._source, national_id)
        if contacts is None:
            return DirectoryEntry(national_id, None, None, _name(found))
        return DirectoryEntry(national_id, contacts.email, contacts.phone, _name(found))

    def contacts(self, national_id: str) -> Contacts | None:
        """The `telecom` contacts of the practitioner, or None (a `ContactSource`)."""
        found = self._practitioner(national_id)
        return None if found is None else _telecom(found)

    def _practitioner(self, national_id: str) -> dict[str, Any] | None:
        if not (national_id.isascii() and national_id.isdigit()):
            return None
        params = {"identifier": f"{RPPS_SYSTEM}|{national_id}"}
        try:
            with self._client.stream("GET", f"{self.base_url}/Practitioner",
                                     params=params) as response:
                if response.status_code != 200:
                    transient = response.status_code in (408, 429) or response.status_code >= 500
                    raise DirectoryUnavailable(
                        f"the directory answered {response.status_code}", transient)
                body = _capped(response)
        except httpx.TimeoutException as exc:
            raise DirectoryUnavailable("the directory did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable(
                f"cannot reach the directory ({type(exc).__name__})") from exc
        try:
            bundle = json.loads(body)
        except ValueError as exc:
            raise DirectoryUnavailable("the directory answered invalid JSON") from exc
        return _match(bundle, national_id)


def _capped(response: httpx.Response) -> bytes:
    """The answer's body, read up to `MAX_ANSWER` bytes: a longer one is refused unread."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER:
            raise DirectoryUnavailable(
                f"the directory's answer is larger than {MAX_ANSWER // 1024} KiB", False)
    return bytes(body)


def _match(bundle: Any, national_id: str) -> dict[str, Any] | None:
    """The one active Practitioner of the bundle bearing exactly `national_id`."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise DirectoryUnavailable("the directory answered something else than a Bundle", False)
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise DirectoryUnavailable("the directory's Bundle is malformed", False)
    found = []
    for entry in entries:
        resource = entry.get("resource")
        if not isinstance(resource, dict) or resource.get("resourceType") != "Practitioner":
            continue
        identifiers = resource.get("identifier", [])
        if not isinstance(identifiers, list):
            raise DirectoryUnavailable("the directory's Practitioner is malformed", False)
        if any(isinstance(i, dict) and i.get("system") == RPPS_SYSTEM
               and i.get("value") == national_id for i in identifiers):
            found.append(resource)
    if len(found) > 1:
        raise DirectoryUnavailable("the directory holds several practitioners for one id", False)
    if not found or found[0].get("active", True) is False:
        return None
    return found[0]


def _ask(source: ContactSource, national_id: str) -> Contacts | None:
    """The contacts `source` holds; any failure of it is `DirectoryUnavailable`."""
    try:
        contacts = source(national_id)
    except DirectoryUnavailable:
        raise
    except Exception as exc:
        raise DirectoryUnavailable(f"the contact source failed ({type(exc).__name__})") from exc
    if contacts is not None and not isinstance(contacts, Contacts):
        raise DirectoryUnavailable("the contact source answered nonsense", False)
    return contacts


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _telecom(practitioner: dict[str, Any]) -> Contacts:
    points = [p for p in _list(practitioner.get("telecom"))
              if isinstance(p, dict) and isinstance(p.get("value"), str)]
    emails = [p["value"] for p in points if p.get("system") == "email"]
    mobiles = [p["value"] for p in points if p.get("system") == "sms"
               or (p.get("system") == "phone" and p.get("use") == "mobile")]
    return Contacts(emails[0] if emails else None, mobiles[0] if mobiles else None)


def _name(practitioner: dict[str, Any]) -> str:
    names = _list(practitioner.get("name"))
    name = names[0] if names and isinstance(names[0], dict) else {}
    if isinstance(name.get("text"), str):
        return str(name["text"])
    parts = [*_list(name.get("prefix")), *_list(name.get("given")), name.get("family")]
    return " ".join(p for p in parts if isinstance(p, str) and p)
