"""Activation requests per address counted in the service's database: the same sliding window as
in memory, exactly the limit admitted however many threads, processes and apps share the
database, addresses kept as keyed digests."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from adapters.api.address_rate import (
    MemoryRequestRate,
    RateExceeded,
    RequestRate,
    SqlRequestRate,
)
from adapters.api.settings import HttpSettings
from adapters.device import DeviceKey
from adapters.sql import SqlStore
from tests.e2e.console_client import console_client
from tests.e2e.test_http import NID
from workflow.errors import ConcurrencyConflict, StorageError
from workflow.testing import FakeClock

LIMIT, PERIOD = 5, 60


def _keyed(address: str) -> str:
    return "k" + address.replace(".", "")


def _scenario(rate: RequestRate) -> None:
    for at in (1000.0, 1010.0, 1020.0, 1030.0, 1040.0):
        assert rate.admit("192.0.2.1", at) == 0
    assert rate.admit("192.0.2.1", 1045.0) == 15  # the oldest leaves the window at 1060
    assert rate.admit("192.0.2.1", 1059.5) == 1
    assert rate.admit("192.0.2.2", 1045.0) == 0  # another address has its own window
    assert rate.admit("192.0.2.1", 1060.0) == 0  # 1000 is out: one more
    assert rate.admit("192.0.2.1", 1061.0) == 9  # refused ones were not counted: 1010 is next


def test_memory_and_database_count_alike(stores: Callable[[], SqlStore], url: str) -> None:
    """A sliding window of PERIOD seconds: refused requests are not counted, addresses apart;
    in memory, on a store's connections, and on an engine of its own."""
    _scenario(MemoryRequestRate(LIMIT, PERIOD))
    _scenario(SqlRequestRate(stores(), LIMIT, PERIOD, _keyed))
    engine = create_engine(url)
    try:
        _scenario(SqlRequestRate(engine, LIMIT, PERIOD, lambda address: "e" + _keyed(address)))
    finally:
        engine.dispose()


def test_a_sweep_removes_only_what_left_the_window(stores: Callable[[], SqlStore]) -> None:
    """Swept at every call: the expired request's row goes, the ones still in the window stay
    and still count; an address with nothing left in the window is removed whole."""
    rate = SqlRequestRate(stores(), 3, PERIOD, _keyed)
    rate.sweep_every = 1
    for at in (1000.0, 1050.0, 1055.0):
        assert rate.admit("192.0.2.1", at) == 0
    assert rate.admit("192.0.2.9", 1056.0) == 0
    assert rate.admit("192.0.2.1", 1061.0) == 0  # 1000 left the window: its place is free
    assert rate.admit("192.0.2.1", 1062.0) == 48  # 1050, 1055 and 1061 still count
    assert rate.admit("192.0.2.1", 1117.0) == 0  # swept at 1117: 1050 and 1055 are gone
    with stores().connection() as conn:
        slots = sorted(conn.execute(text("SELECT at FROM ecps_request_slot")).scalars())
        addresses = conn.execute(text("SELECT address FROM ecps_request_address")).scalars().all()
    assert slots == [1061.0, 1117.0]  # 192.0.2.9's 1056 left the window and was swept too
    assert addresses == [_keyed("192.0.2.1")]


def test_fifty_threads_over_two_counters_admit_exactly_the_limit(
        stores: Callable[[], SqlStore]) -> None:
    """50 concurrent requests from one address, split between two servers' counters: exactly
    LIMIT admitted, and the table holds digests, not the address."""
    counters = [SqlRequestRate(stores(), LIMIT, PERIOD, _keyed) for _ in range(2)]
    with ThreadPoolExecutor(10) as pool:
        waits = list(pool.map(lambda i: counters[i % 2].admit("198.51.100.1", 1000.0), range(50)))
    assert waits.count(0) == LIMIT
    assert all(w == PERIOD for w in waits if w)
    with stores().connection() as conn:
        slots = conn.execute(text("SELECT address FROM ecps_request_slot")).scalars().all()
        turns = conn.execute(text("SELECT address, turns FROM ecps_request_address")).all()
    assert slots == [_keyed("198.51.100.1")] * LIMIT
    assert [tuple(t) for t in turns] == [(_keyed("198.51.100.1"), LIMIT)]  # refusals given back


def _admit_from(database: str, times: int, out: Any) -> None:
    store = SqlStore(database)
    try:
        rate = SqlRequestRate(store, LIMIT, PERIOD, _keyed)
        out.put(sum(rate.admit("203.0.113.9", 1000.0) == 0 for _ in range(times)))
    finally:
        store.close()


def test_separate_processes_admit_exactly_the_limit(stores: Callable[[], SqlStore], url: str) -> None:
    """Three processes ask 20 times each from one address: LIMIT admitted between them."""
    SqlRequestRate(stores(), LIMIT, PERIOD, _keyed)  # the table, before the processes
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    procs = [context.Process(target=_admit_from, args=(url, 20, out)) for _ in range(3)]
    for p in procs:
        p.start()
    admitted = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert sum(admitted) == LIMIT


def test_two_apps_on_one_database_answer_201_to_exactly_the_limit(
        stores: Callable[[], SqlStore]) -> None:
    """As two server processes would: 30 concurrent POST /activations from one address split
    between two apps over one database; LIMIT get past the rate, the others get 429; the
    address is stored under the service's keyed digest."""
    from tests.conftest import memory_service

    http = HttpSettings(request_rate=LIMIT, request_period=PERIOD)
    services = [memory_service(FakeClock(), store=stores()) for _ in range(2)]
    clients = [console_client(svc, http=http, address="192.0.2.44") for svc in services]
    body = {"national_id": NID, "device_key": DeviceKey.generate().public_jwk}
    with clients[0], clients[1], ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda i: clients[i % 2].post(
            "/activations", json=body).status_code, range(30)))
    assert len([s for s in answers if s != 429]) == LIMIT, answers
    with services[0].store.connection() as conn:  # type: ignore[attr-defined]
        stored = set(conn.execute(text("SELECT address FROM ecps_request_slot")).scalars())
    assert stored == {services[0].keys.digest("request-address", "192.0.2.44")[:64]}


def _rows(store: SqlStore) -> list[str]:
    with store.connection() as conn:
        return list(conn.execute(text("SELECT name FROM ride_row ORDER BY name")).scalars())


def _turns(store: SqlStore, address: str) -> int:
    with store.connection() as conn:
        turns = conn.execute(text("SELECT turns FROM ecps_request_address WHERE address = :a"),
                             {"a": _keyed(address)}).scalar()
    return int(turns or 0)


def _with_rows(store: SqlStore) -> SqlStore:
    """`store`, with a table of names to write in requests."""
    with store.writing("the table") as conn:
        conn.execute(text("CREATE TABLE ride_row (name VARCHAR(10) PRIMARY KEY)"))
    return store


def _insert(store: SqlStore, name: str) -> None:
    with store.writing("a change") as conn:
        conn.execute(text("INSERT INTO ride_row (name) VALUES (:n)"), {"n": name})


def test_a_request_is_counted_in_the_transaction_it_commits(stores: Callable[[], SqlStore]) -> None:
    """Counted in the block's first committed write (SQLite; PostgreSQL counts first, on its
    own): past the limit that write is rolled back and `RateExceeded` comes out; a block that
    commits nothing is counted on its own at its end."""
    store = _with_rows(stores())
    rate = SqlRequestRate(store, 2, PERIOD, _keyed)
    with rate.along("192.0.2.7", 1000.0):
        _insert(store, "a")
        _insert(store, "b")  # a second write of the block: not counted again
    assert _turns(store, "192.0.2.7") == 1
    with rate.along("192.0.2.7", 1010.0):
        pass  # nothing committed: counted on its own
    assert _turns(store, "192.0.2.7") == 2
    with pytest.raises(RateExceeded) as refused, rate.along("192.0.2.7", 1020.0):
        _insert(store, "c")
    assert refused.value.wait == 40  # 1000 leaves the window at 1060
    assert _rows(store) == ["a", "b"]  # the refused request's write was rolled back
    assert _turns(store, "192.0.2.7") == 2


def test_a_request_that_fails_before_committing_still_counts(stores: Callable[[], SqlStore]) -> None:
    """Its error comes out as it is, once counted; past the limit, `RateExceeded` instead. A
    write rolled back in the block does not count: the next one that commits does."""
    store = _with_rows(stores())
    rate = SqlRequestRate(store, 2, PERIOD, _keyed)
    with pytest.raises(ValueError, match="bad input"), rate.along("192.0.2.8", 1000.0):
        raise ValueError("bad input")
    _insert(store, "a")  # outside a request: not counted
    with rate.along("192.0.2.8", 1001.0):
        with pytest.raises((StorageError, ConcurrencyConflict)):
            _insert(store, "a")  # the same key again: rolled back, with the count it carried
        _insert(store, "b")  # the count goes again, in this one
    assert _turns(store, "192.0.2.8") == 2
    with pytest.raises(RateExceeded), rate.along("192.0.2.8", 1002.0):
        raise ValueError("bad input")
    assert _rows(store) == ["a", "b"]


def test_past_the_address_limit_a_post_creates_nothing(stores: Callable[[], SqlStore]) -> None:
    """Through HTTP, counted in the request's own transaction: the request past the limit is
    429 and leaves no activation and no e-mail behind; requests refused before any change
    (a malformed identifier) count too."""
    from tests.conftest import NID2, memory_service

    store = stores()
    svc = memory_service(FakeClock(), store=store)
    key = DeviceKey.generate().public_jwk
    http = HttpSettings(request_rate=2, request_period=PERIOD)
    with console_client(svc, http=http, address="192.0.2.45") as client:
        assert client.post("/activations", json={"national_id": NID, "device_key": key}).status_code == 201
        refused = client.post("/activations", json={"national_id": "12", "device_key": key})
        assert refused.status_code == 400
        third = client.post("/activations", json={"national_id": NID2, "device_key": key})
    assert third.status_code == 429, third.text
    assert third.headers["Retry-After"] == str(PERIOD)
    assert len(store.list_activations(10)) == 1
    assert svc.dispatch() == 1  # the first request's e-mail only


def test_a_rider_goes_in_the_next_write_the_thread_commits(stores: Callable[[], SqlStore]) -> None:
    """`SqlStore.along`: the rider's statements commit with the first write of the block that
    commits (here inside a unit), not with one rolled back, and only once."""
    store = _with_rows(stores())
    _insert(store, "a")
    with store.along(lambda conn: conn.execute(text("INSERT INTO ride_row VALUES ('rider')"))) \
            as ride:
        with pytest.raises((StorageError, ConcurrencyConflict)):
            _insert(store, "a")
        assert not ride.done
        assert _rows(store) == ["a"]
        with store.unit():
            _insert(store, "b")
        assert ride.done
        _insert(store, "c")
    assert _rows(store) == ["a", "b", "c", "rider"]


def test_a_sweep_that_fails_does_not_fail_a_request_that_committed(tmp_path: Path) -> None:
    """A sweep is due: it runs before the request, as `admit` runs it, so that a database too
    busy for it refuses the request before anything is done, never after its change committed
    (a 503 for an activation that was created)."""
    path = tmp_path / "busy.sqlite3"
    store = _with_rows(SqlStore(f"sqlite:///{path}", busy_timeout=0.2))
    try:
        rate = SqlRequestRate(store, 2, PERIOD, _keyed)
        rate.sweep_every = 1
        other = sqlite3.connect(path, isolation_level=None)
        try:
            with rate.along("192.0.2.9", 1000.0):
                _insert(store, "a")
                other.execute("BEGIN IMMEDIATE")  # another writer holds the database meanwhile
        finally:
            other.close()
        assert _rows(store) == ["a"]
        assert _turns(store, "192.0.2.9") == 1
    finally:
        store.close()


def test_past_the_address_limit_a_post_asks_the_directory_nothing(
        stores: Callable[[], SqlStore]) -> None:
    """An address past its limit is refused before its request runs once a request of it was
    refused in this process: one directory lookup (and the work of one request) past the
    limit, however many it sends."""
    from tests.conftest import memory_service

    store = stores()
    svc = memory_service(FakeClock(), store=store)
    asked: list[str] = []
    lookup = svc.directory.lookup
    svc.directory.lookup = lambda nid: asked.append(nid) or lookup(nid)  # type: ignore[method-assign]
    body = {"national_id": NID, "device_key": DeviceKey.generate().public_jwk}
    http = HttpSettings(request_rate=2, request_period=PERIOD)
    with console_client(svc, http=http, address="192.0.2.46") as client:
        answers = [client.post("/activations", json=body).status_code for _ in range(6)]
    assert answers == [201, 201, 429, 429, 429, 429]
    assert len(asked) == (3 if store.dialect_name == "sqlite" else 2)  # PostgreSQL counts first


def test_a_refused_address_is_refused_without_the_database_until_its_place_is_free(
        stores: Callable[[], SqlStore]) -> None:
    """Once this process saw an address refused, its next requests are refused before they
    run, with the time left until its oldest request leaves the window; then admitted again."""
    store = _with_rows(stores())
    rate = SqlRequestRate(store, 1, PERIOD, _keyed)
    with rate.along("192.0.2.9", 1000.0):
        _insert(store, "a")
    with pytest.raises(RateExceeded) as refused, rate.along("192.0.2.9", 1010.0):
        _insert(store, "b")
    assert refused.value.wait == 50
    ran = []
    with pytest.raises(RateExceeded) as again, rate.along("192.0.2.9", 1020.5):
        ran.append(True)
    assert (again.value.wait, ran) == (40, [])
    with rate.along("192.0.2.9", 1060.0):
        _insert(store, "c")
    assert _rows(store) == ["a", "c"]
    assert _turns(store, "192.0.2.9") == 2
