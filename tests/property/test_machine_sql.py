"""The stateful property suite (`ActivationMachine`) over SqlStore on SQLite files.

A tenth of the profile's examples (at least 10): each example runs on a fresh database file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import settings

from adapters.memory import MemoryMailer, MemorySms
from adapters.sql import SqlStore
from workflow.testing.machine import ActivationMachine

_FILES = tempfile.TemporaryDirectory(prefix="ecps-machine-")
_SERIAL = iter(range(1, 10**9))


def _fresh_sqlite_store() -> SqlStore:
    return SqlStore(f"sqlite:///{Path(_FILES.name) / f'machine-{next(_SERIAL)}.db'}")


class SqliteMachine(ActivationMachine.configure(make_store=_fresh_sqlite_store,  # type: ignore[misc]
                                                make_mailer=MemoryMailer, make_sms=MemorySms)):
    """The machine over a fresh SQLite file per example, closed at the end of it."""

    def teardown(self) -> None:
        super().teardown()
        store = self.store
        assert isinstance(store, SqlStore)
        store.close()
        Path(store.engine.url.database or "").unlink(missing_ok=True)


TestActivationMachineOnSqlite = SqliteMachine.TestCase
TestActivationMachineOnSqlite.settings = settings(
    TestActivationMachineOnSqlite.settings, max_examples=max(10, settings().max_examples // 10))
