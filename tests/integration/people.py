"""Many fictional professionals with well-formed identifiers, for tests that need a crowd."""

from __future__ import annotations

import json
from pathlib import Path

from workflow.messages import DirectoryEntry
from workflow.security import luhn_ok


def national_id(n: int) -> str:
    """The `n`-th fictional identifiant national: 8 + an RPPS `1…` whose last digit is its Luhn key."""
    body = f"1{n:09d}"
    key = next(d for d in "0123456789" if luhn_ok(body + d))
    return "8" + body + key


def crowd(size: int) -> list[DirectoryEntry]:
    """`size` professionals, each with an e-mail and a mobile of record (fictional ranges)."""
    return [DirectoryEntry(national_id(n), f"pro{n}@example.org", f"06399{n % 100000:05d}", f"Dr Pro {n}")
            for n in range(size)]


def directory_file(path: Path, size: int) -> Path:
    """A `FileDirectory` file holding `crowd(size)`."""
    rows = [{"national_id": p.national_id, "email": p.email, "phone": p.phone, "name": p.name}
            for p in crowd(size)]
    path.write_text(json.dumps({"professionals": rows}))
    return path
