"""The store keeps its connections open between calls; one that broke is never used again."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from adapters.sql import SqlStore
from workflow.domain import Change, Write
from workflow.errors import StorageError
from workflow.testing.store_contract import sample_activation


@pytest.mark.postgres
def test_a_connection_the_server_closed_fails_one_call_and_is_replaced(
        pg_url: str, pg_admin_url: str) -> None:
    """The server ends the store's kept connection: the next call fails with `StorageError`,
    the one after it runs on a new connection, and nothing is lost."""
    name = "ecps-kept-" + secrets.token_hex(4)
    store = SqlStore(f"{pg_url}&application_name={name}")
    try:
        store.commit(Change((Write(sample_activation("kept-1"), None),)))  # the kept connection
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            ended = admin.execute("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) "
                                  "FROM pg_stat_activity WHERE application_name = %s) t",
                                  (name,)).fetchone()
        assert ended == (1,)
        with pytest.raises(StorageError):
            store.commit(Change((Write(sample_activation("kept-2"), None),)))
        store.commit(Change((Write(sample_activation("kept-3"), None),)))
        assert {a.id for a in store.list_activations()} == {"kept-1", "kept-3"}
    finally:
        store.close()


def test_closing_the_store_closes_what_it_kept(tmp_path: object) -> None:
    """`close()` ends the kept connections too: the file can be reopened and is intact."""
    path = f"sqlite:///{tmp_path}/kept.sqlite3"
    store = SqlStore(path)
    store.commit(Change((Write(sample_activation("kept-1"), None),)))
    store.close()
    assert store.engine.pool.checkedout() == 0
    store.commit(Change((Write(sample_activation("kept-2"), None),)))  # reconnects when used again
    assert {a.id for a in store.list_activations()} == {"kept-1", "kept-2"}
    store.close()
