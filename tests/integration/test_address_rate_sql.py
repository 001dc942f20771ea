"""Activation requests per address counted in the service's database: the same sliding window as
in memory, exactly the limit admitted however many threads, processes and apps share the
database, addresses kept as keyed digests."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import create_engine, text

from adapters.api.address_rate import MemoryRequestRate, RequestRate, SqlRequestRate
from adapters.api.settings import HttpSettings
from adapters.device import DeviceKey
from adapters.sql import SqlStore
from tests.e2e.console_client import console_client
from tests.e2e.test_http import NID
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
