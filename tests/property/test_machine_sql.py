"""The stateful property suite (`ActivationMachine`) over SqlStore on SQLite files.

A tenth of the profile's examples (at least 10): each example runs on a fresh database file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import settings

from adapters.memory import MemoryMailer, MemorySms
from adapters.sql import SqlStore
from workflow.ports import Store
from workflow.testing.machine import ActivationMachine

_FILES = tempfile.TemporaryDirectory(prefix="ecps-machine-")
_SERIAL = iter(range(1, 10**9))


def _fresh_sqlite_store() -> SqlStore:
    return SqlStore(f"sqlite:///{Path(_FILES.name) / f'machine-{next(_SERIAL)}.db'}")


def _close_and_delete(store: Store) -> None:
    assert isinstance(store, SqlStore)
    store.close()
    Path(store.engine.url.database or "").unlink(missing_ok=True)


SqliteMachine = ActivationMachine.configure(make_store=_fresh_sqlite_store, close_store=_close_and_delete,
                                            make_mailer=MemoryMailer, make_sms=MemorySms)
TestActivationMachineOnSqlite = SqliteMachine.TestCase
TestActivationMachineOnSqlite.settings = settings(
    TestActivationMachineOnSqlite.settings, max_examples=max(10, settings().max_examples // 10))
