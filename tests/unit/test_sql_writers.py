"""`Writers`: one SQLite writer at a time, queued between processes on a lock file."""

from __future__ import annotations

import errno
import fcntl
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sql import SqlStore, writers
from adapters.sql.writers import Writers


@pytest.fixture
def held(tmp_path: Path) -> Iterator[int]:
    """The lock file of `tmp_path / "db.sqlite"` locked through a description of its own, as
    another process would hold it (flock locks belong to open file descriptions)."""
    fd = os.open(tmp_path / "db.sqlite-writers", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield fd
    os.close(fd)


def _locked(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_writer_waits_for_the_file_lock_and_takes_it_once_it_is_free(
        tmp_path: Path, held: int, monkeypatch: pytest.MonkeyPatch) -> None:
    waiting, entered = threading.Event(), threading.Event()
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        waiting.set()  # it found the lock taken and pauses before trying again
        real_sleep(seconds)

    monkeypatch.setattr(writers, "_sleep", sleep)
    turn = Writers(str(tmp_path / "db.sqlite"), timeout=60)

    def write() -> None:
        with turn:
            entered.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert waiting.wait(30)
    assert not entered.is_set()
    fcntl.flock(held, fcntl.LOCK_UN)
    thread.join(30)
    assert entered.is_set()
    assert not _locked(tmp_path / "db.sqlite-writers")  # given back on leaving


def test_past_its_timeout_a_writer_goes_on_without_the_file_lock(tmp_path: Path, held: int) -> None:
    turn = Writers(str(tmp_path / "db.sqlite"), timeout=0)
    with turn:
        pass  # SQLite's own busy timeout is what applies now
    assert _locked(tmp_path / "db.sqlite-writers")  # the other holder's lock is untouched


def test_the_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    turn = Writers(str(tmp_path / "db.sqlite"), timeout=60)
    inside, most = 0, 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(200):
            with turn:
                with guard:
                    inside += 1
                    most = max(most, inside)
                threading.Event().wait(0)  # let the others run
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert most == 1


def test_a_folder_without_room_for_the_lock_file_leaves_the_lock_between_threads(
        tmp_path: Path) -> None:
    turn = Writers(str(tmp_path / "missing" / "db.sqlite"), timeout=60)
    with turn:
        assert not turn._threads.acquire(blocking=False)
    assert turn._threads.acquire(blocking=False)


def test_a_symbolic_link_in_place_of_the_lock_file_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_text("kept")
    (tmp_path / "db.sqlite-writers").symlink_to(tmp_path / "elsewhere")
    turn = Writers(str(tmp_path / "db.sqlite"), timeout=60)
    with turn:
        assert turn._fd is None  # only the lock between threads
    assert (tmp_path / "elsewhere").read_text() == "kept"


def test_a_passing_shortage_of_descriptors_is_tried_again_at_the_next_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open
    failures = [OSError(errno.EMFILE, "Too many open files")]

    def open_once_short(path: str, flags: int, mode: int = 0o777) -> int:
        if failures:
            raise failures.pop()
        return real_open(path, flags, mode)

    monkeypatch.setattr(writers.os, "open", open_once_short)
    turn = Writers(str(tmp_path / "db.sqlite"), timeout=60)
    with turn:
        assert turn._fd is None  # this write goes with the lock between threads only
    with turn:
        assert turn._fd is not None
        assert _locked(tmp_path / "db.sqlite-writers")


def _count(url: str, times: int) -> None:
    store = SqlStore(url)
    for _ in range(times):
        with store.writing("count") as conn:
            n = conn.exec_driver_sql("SELECT n FROM counter").scalar_one()
            conn.exec_driver_sql(f"UPDATE counter SET n = {n + 1}")
    store.close()


def test_processes_on_one_file_queue_on_the_lock_file_and_lose_no_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = SqlStore(url)
    with store.writing("make the counter") as conn:
        conn.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO counter VALUES (0)")
    assert (tmp_path / "db.sqlite-writers").exists()
    spawn = multiprocessing.get_context("spawn")
    procs = [spawn.Process(target=_count, args=(url, 150)) for _ in range(3)]
    for p in procs:
        p.start()
    _count(url, 150)
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with store.writing("read") as conn:
        assert conn.exec_driver_sql("SELECT n FROM counter").scalar_one() == 600
    store.close()


def test_a_forked_child_has_a_lock_and_a_file_of_its_own(tmp_path: Path) -> None:
    turn = Writers(str(tmp_path / "db.sqlite"), timeout=60)
    with turn:
        pass  # the file is open in this process
    read, write = os.pipe()
    with turn:  # held by this process while it forks
        pid = os.fork()
        if pid == 0:  # the child: its own lock, and it waits for the parent's file lock
            os.close(read)
            turn.after_fork()
            with turn:
                os.write(write, b"in")
            os._exit(0)
        os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 2) == b"in"
    os.close(read)


@pytest.mark.skipif(os.geteuid() != 0, reason="a lock file made by root")
def test_a_lock_file_made_by_root_goes_to_the_owner_of_the_database() -> None:
    """An operator's command run as root makes the lock file: the database's owner (the
    server) can still open it, as SQLite's own `-wal` and `-shm` files."""
    with tempfile.TemporaryDirectory() as folder:  # one the owner can reach, unlike tmp_path
        os.chown(folder, 65534, 65534)
        _opened_by_the_owner(Path(folder) / "db.sqlite")


def _opened_by_the_owner(database: Path) -> None:
    database.touch()
    os.chown(database, 65534, 65534)
    with Writers(str(database), timeout=60):
        pass
    assert Path(f"{database}-writers").stat().st_uid == 65534
    pid = os.fork()
    if pid == 0:  # the server, as the database's owner
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            turn = Writers(str(database), timeout=60)
            with turn:
                code = 0 if turn._fd is not None else 2
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
