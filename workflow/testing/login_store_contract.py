"""`LoginStoreContract`: what the login workflow relies on from a store that keeps logins
(`workflow.ports.LoginStore`); subclass it with your store's factory, as `StoreContract`.

    class TestMyStoreLogins(LoginStoreContract):
        def make_store(self): return MyStore(...)      # a fresh, empty store
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from workflow.domain import Change, Write
from workflow.errors import ConcurrencyConflict
from workflow.login.definition import LoginState
from workflow.login.record import Login, LoginWrite
from workflow.ports import LoginStore, Store
from workflow.testing.requirements import requirement
from workflow.testing.store_contract import sample_activation

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
WAITING = {LoginState.REQUESTED, LoginState.NOTIFIED}


def sample_login(lid: str = "lg-1", *, activation_id: str = "act-1", subject: str = "subject-a",
                 state: LoginState = LoginState.REQUESTED, created: datetime = T0,
                 **fields: object) -> Login:
    """A plausible stored login (no identifier, no secret)."""
    g = Login(id=lid, subject=subject, activation_id=activation_id, state=state, created_at=created,
              client_id="portail-paca", client_name="Portail de santé PACA", binding_message="A7-3F",
              expires_at=created + timedelta(minutes=2), audit_head="h" * 64, audit_seq=1,
              step_count=1)
    return replace(g, **fields)  # type: ignore[arg-type]


class LoginStoreContract:
    """What the login workflow relies on from a store; pytest runs it in each `Test...` subclass."""

    def make_store(self) -> Store:
        """A fresh, empty store that keeps logins."""
        raise NotImplementedError

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """The store under test."""
        store = self.make_store()
        yield store
        close: Callable[[], None] | None = getattr(store, "close", None)
        if close is not None:
            close()

    def _logins(self, store: Store) -> LoginStore:
        assert isinstance(store, LoginStore)
        return store

    @requirement("REQ-4-STORE-QUERIES")
    def test_the_store_keeps_logins(self, store: Store) -> None:
        """The store is a `LoginStore` as well as a `Store`."""
        assert isinstance(store, LoginStore)

    @requirement("REQ-4-STORE-ROUND-TRIP", "REQ-4-STORE-COPIES")
    def test_a_login_reads_back_equal_and_as_a_copy(self, store: Store) -> None:
        """Every field reads back equal; changing what was read changes nothing stored."""
        g = sample_login(approved_at=T0 + timedelta(seconds=30, microseconds=7))
        store.commit(Change(logins=(LoginWrite(g, None),)))
        read = self._logins(store).get_login(g.id)
        assert read == g
        assert read is not None
        read.state = LoginState.DENIED
        assert self._logins(store).get_login(g.id) == g
        assert self._logins(store).get_login("lg-none") is None

    @requirement("REQ-6-CAS", "REQ-6-ATOMIC")
    def test_a_stale_version_changes_nothing_of_the_change(self, store: Store) -> None:
        """A login write from an old version is a conflict; the activation written with it is not saved."""
        g, a = sample_login(), sample_activation()
        store.commit(Change(writes=(Write(a, None),), logins=(LoginWrite(g, None),)))
        moved = replace(g, version=1, state=LoginState.NOTIFIED)
        store.commit(Change(logins=(LoginWrite(moved, 0),)))
        counted = replace(a, version=a.version + 1, login_failures=1)
        stale = replace(g, version=1, state=LoginState.DENIED)
        with pytest.raises(ConcurrencyConflict):
            store.commit(Change(writes=(Write(counted, a.version),), logins=(LoginWrite(stale, 0),)))
        assert self._logins(store).get_login(g.id) == moved
        assert store.get(a.id) == a

    @requirement("REQ-6-CAS")
    def test_inserting_an_existing_login_is_a_conflict(self, store: Store) -> None:
        """A second insert of one login id is a conflict."""
        store.commit(Change(logins=(LoginWrite(sample_login(), None),)))
        with pytest.raises(ConcurrencyConflict):
            store.commit(Change(logins=(LoginWrite(sample_login(client_id="other"), None),)))

    @requirement("REQ-4-STORE-QUERIES")
    def test_logins_of_a_credential_by_state_oldest_first(self, store: Store) -> None:
        """`logins_of` gives the credential's logins in the states asked, oldest first, no other."""
        rows = [sample_login("lg-b", created=T0 + timedelta(seconds=2)),
                sample_login("lg-a", created=T0 + timedelta(seconds=1), state=LoginState.NOTIFIED),
                sample_login("lg-c", state=LoginState.DENIED),
                sample_login("lg-d", activation_id="act-2")]
        store.commit(Change(logins=tuple(LoginWrite(g, None) for g in rows)))
        found = self._logins(store).logins_of("act-1", WAITING)
        assert [g.id for g in found] == ["lg-a", "lg-b"]
        assert self._logins(store).logins_of("act-1", set()) == []

    @requirement("REQ-4-STORE-QUERIES")
    def test_logins_since_is_inclusive_and_per_subject(self, store: Store) -> None:
        """`logins_since` gives the subject's creation times at or after the bound, oldest first."""
        rows = [sample_login(f"lg-{n}", created=T0 + timedelta(minutes=n)) for n in (3, 1, 2)]
        rows.append(sample_login("lg-x", subject="subject-b", created=T0 + timedelta(minutes=5)))
        store.commit(Change(logins=tuple(LoginWrite(g, None) for g in rows)))
        got = self._logins(store).logins_since("subject-a", T0 + timedelta(minutes=2))
        assert got == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=3)]

    @requirement("REQ-4-STORE-QUERIES")
    def test_login_ids_page_in_id_order(self, store: Store) -> None:
        """`login_ids` lists ids above `after`, in order, at most `limit`."""
        store.commit(Change(logins=tuple(LoginWrite(sample_login(f"lg-{n}"), None) for n in "cab")))
        logins = self._logins(store)
        assert logins.login_ids(None, 2) == ["lg-a", "lg-b"]
        assert logins.login_ids("lg-b", 10) == ["lg-c"]

    @requirement("REQ-4-STORE-QUERIES")
    def test_logins_list_newest_first_below_a_cursor(self, store: Store) -> None:
        """`list_logins`: newest first (creation time, then id), at most `limit`, and from a
        cursor only those strictly below it."""
        rows = [sample_login("lg-a", created=T0), sample_login("lg-c", created=T0),
                sample_login("lg-b", created=T0 + timedelta(seconds=1)),
                sample_login("lg-z", created=T0 - timedelta(seconds=1))]
        store.commit(Change(logins=tuple(LoginWrite(g, None) for g in rows)))
        logins = self._logins(store)
        assert [g.id for g in logins.list_logins(10)] == ["lg-b", "lg-c", "lg-a", "lg-z"]
        assert [g.id for g in logins.list_logins(2)] == ["lg-b", "lg-c"]
        assert [g.id for g in logins.list_logins(10, before=(T0, "lg-c"))] == ["lg-a", "lg-z"]
        assert logins.list_logins(10, before=(T0 - timedelta(seconds=1), "lg-z")) == []

    @requirement("REQ-4-STORE-QUERIES", "REQ-3-DEADLINES")
    def test_logins_due_are_those_whose_validity_ended(self, store: Store) -> None:
        """`logins_due`: ids whose validity ends at or before `now`, soonest first; none for an ended one."""
        rows = [sample_login("lg-late", expires_at=T0 + timedelta(minutes=3)),
                sample_login("lg-soon", expires_at=T0 + timedelta(minutes=1)),
                sample_login("lg-edge", expires_at=T0 + timedelta(minutes=2)),
                sample_login("lg-done", state=LoginState.DENIED, expires_at=None)]
        store.commit(Change(logins=tuple(LoginWrite(g, None) for g in rows)))
        logins = self._logins(store)
        assert logins.logins_due(T0 + timedelta(minutes=2), 10) == ["lg-soon", "lg-edge"]
        assert logins.logins_due(T0 + timedelta(minutes=5), 1) == ["lg-soon"]
