"""Wrong operator tokens counted in the service's database: the same hold-offs as in memory,
counted together by every process and thread using that database, addresses kept as digests."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from adapters.api.guesses import FAILURES, FAILURES_ALL, WINDOW, GuessCounter, Guesses, SqlGuesses
from adapters.sql import SqlStore

Clock = list[float]


def _scenario(guesses: GuessCounter, now: Clock) -> None:
    for _ in range(FAILURES):
        assert guesses.wait("a") == 0
        guesses.failed("a")
    assert guesses.wait("a") == WINDOW
    assert guesses.wait("b") == 0
    for i in range(FAILURES_ALL - FAILURES):
        guesses.failed(f"10.0.{i // 250}.{i % 250}")
    assert guesses.wait("b") == WINDOW
    now[0] = 1000 + WINDOW - 0.5
    assert guesses.wait("b") == 1
    now[0] = 1000 + WINDOW + 0.5
    assert guesses.wait("a") == 0
    assert guesses.wait("b") == 0


def test_memory_and_database_hold_off_alike(stores: Callable[[], SqlStore]) -> None:
    """Per address after FAILURES, everyone after FAILURES_ALL, both ending with the window."""
    now_memory, now_sql = [1000.0], [1000.0]
    _scenario(Guesses(lambda: now_memory[0]), now_memory)
    _scenario(SqlGuesses(stores(), lambda: now_sql[0]), now_sql)


def test_two_processes_count_together(stores: Callable[[], SqlStore]) -> None:
    """Wrong tokens split between two servers' counters hold the address off on both."""
    now = [1000.0]
    one, two = SqlGuesses(stores(), lambda: now[0]), SqlGuesses(stores(), lambda: now[0])
    for i in range(FAILURES):
        (one if i % 2 else two).failed("192.0.2.7")
    assert one.wait("192.0.2.7") == two.wait("192.0.2.7") == WINDOW
    assert one.wait("192.0.2.8") == 0


def test_concurrent_failures_are_all_counted(stores: Callable[[], SqlStore]) -> None:
    """40 threads over 2 counters, each one wrong token: 40 rows, everyone not yet held off
    (FAILURES_ALL is 100), the address held off."""
    counters = [SqlGuesses(stores()), SqlGuesses(stores())]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: counters[i % 2].failed("198.51.100.1"), range(40)))
    store = stores()
    with store.connection() as conn:
        rows = conn.execute(text("SELECT address FROM ecps_operator_guess")).scalars().all()
    assert len(rows) == 40
    assert "198.51.100.1" not in rows  # a digest, not the address
    assert counters[0].wait("198.51.100.1") > 0
    assert counters[1].wait("198.51.100.2") == 0


def _fail_from(database: str, address: str, times: int) -> None:
    store = SqlStore(database)
    try:
        guesses = SqlGuesses(store)
        for _ in range(times):
            guesses.failed(address)
    finally:
        store.close()


def test_separate_processes_count_together(stores: Callable[[], SqlStore], url: str) -> None:
    """Three processes give FAILURES wrong tokens from one address between them: held off."""
    stores()  # the schema, before the processes
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_fail_from, args=(url, "203.0.113.9", n))
             for n in (2, 2, FAILURES - 4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert SqlGuesses(stores()).wait("203.0.113.9") > 0


def test_the_server_keeps_addresses_as_keyed_digests(stores: Callable[[], SqlStore]) -> None:
    """Through the API, a wrong token's address is stored under the service's keyed digest:
    neither the address nor its plain SHA-256 (which trying every IPv4 address reverses)."""
    import hashlib

    from tests.conftest import memory_service
    from tests.e2e.console_client import console_client
    from workflow.testing import FakeClock

    svc = memory_service(FakeClock(), store=stores())
    c = console_client(svc, address="192.0.2.44")
    assert c.get("/operations/activations", headers={"Authorization": "Bearer " + "w" * 30}
                 ).status_code == 403
    with svc.store.connection() as conn:  # type: ignore[attr-defined]
        [stored] = conn.execute(text("SELECT address FROM ecps_operator_guess")).scalars().all()
    assert stored == svc.keys.digest("operator-guess", "192.0.2.44")[:64]
    assert stored not in ("192.0.2.44", hashlib.sha256(b"192.0.2.44").hexdigest())


def test_concurrent_guesses_compare_exactly_the_limit(stores: Callable[[], SqlStore]) -> None:
    """40 threads over 2 counters guess from one address at once: exactly FAILURES may compare
    their token, the others are told to wait (the check and the count are one step)."""
    counters = [SqlGuesses(stores()), SqlGuesses(stores())]
    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(lambda i: counters[i % 2].guess("198.51.100.3"), range(40)))
    assert waits.count(0) == FAILURES
    assert all(w > 0 for w in waits if w)


def test_a_right_token_takes_its_count_back() -> None:
    """Right tokens, however many, never hold their address off; wrong ones still do."""
    guesses = Guesses(lambda: 1000.0)
    for _ in range(3 * FAILURES):
        assert guesses.guess("192.0.2.1") == 0
        guesses.right("192.0.2.1")
    for _ in range(FAILURES):
        assert guesses.guess("192.0.2.1") == 0
    assert guesses.guess("192.0.2.1") == WINDOW
    assert guesses.wait("192.0.2.2") == 0


def test_concurrent_guesses_in_memory_compare_exactly_the_limit() -> None:
    """The same race in one process's memory."""
    guesses = Guesses()
    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(lambda _: guesses.guess("198.51.100.4"), range(40)))
    assert waits.count(0) == FAILURES


def test_a_right_token_takes_its_count_back_in_the_database(stores: Callable[[], SqlStore]) -> None:
    """The same in the database: `right` removes that address's newest count, not another's."""
    now = [1000.0]
    guesses = SqlGuesses(stores(), lambda: now[0])
    assert guesses.guess("192.0.2.9") == 0  # a wrong one, kept
    for _ in range(2 * FAILURES):
        assert guesses.guess("192.0.2.1") == 0
        guesses.right("192.0.2.1")
    for _ in range(FAILURES - 1):
        assert guesses.guess("192.0.2.9") == 0
    assert guesses.guess("192.0.2.9") == WINDOW
    assert guesses.wait("192.0.2.1") == 0
