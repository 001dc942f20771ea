"""The processes of `ecps serve`: the app each worker process builds, the dispatcher run once.

Over a database file or PostgreSQL, the command's own process binds the socket, runs the
outbox dispatcher (one for every worker) and supervises the uvicorn worker processes (one is
enough: the dispatcher then has a core of its own instead of a share of the workers'
interpreter lock); each worker builds its app with `worker_app` from the options the command
left in `OPTIONS_VARIABLE`. All of them share one database (SQLite in WAL with a busy
timeout, or PostgreSQL). `--dev`, an in-memory database and `--dispatch-every 0` with one
worker run in one process.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.api.lanes import DEFAULT_PIN_THREADS
from workflow import ActivationService
from workflow.outbox import DispatchLoop

if TYPE_CHECKING:
    from uvicorn import Config

    from adapters.api.console import PhoneKit
    from adapters.api.settings import HttpSettings

OPTIONS_VARIABLE = "ECPS_SERVE_WORKER"
STARTUP_FAILURE = 3  # uvicorn's exit code for a worker that failed before serving
LOCAL_THREADS = 0
"""Request threads per process by default, the PIN checks apart, when a request waits on
nothing but this machine (SQLite, a directory file): none, requests run on the event loop's
own thread; handing each over to a thread and back cost a quarter of `POST /activations`."""
NETWORK_THREADS = 8
"""The same when requests wait on the network (PostgreSQL, a directory API): each holds its
thread while it waits."""
log = logging.getLogger("ecps.serve")


@dataclass(frozen=True, slots=True)
class Serving:
    """What every process of one `ecps serve` is started with."""

    host: str
    database: str | None
    state_dir: str | None
    operator_token_file: str | None
    log_level: str
    log_format: str
    threads: int
    access_log: bool = False
    parent: int = 0  # the supervising process (the command's), which its workers outlive not
    pin_threads: int = DEFAULT_PIN_THREADS

    def to_env(self) -> str:
        """These options as the value of `OPTIONS_VARIABLE`."""
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> Serving:
        """The options the command left in `OPTIONS_VARIABLE`."""
        return cls(**json.loads(os.environ[OPTIONS_VARIABLE]))


def default_threads(database_url: str, env: Mapping[str, str]) -> int:
    """The request threads of a process when not given: more when requests wait on the
    network (a database that is not SQLite, a directory API)."""
    from adapters.bootstrap import remote_directory

    sqlite = database_url.startswith("sqlite")
    return NETWORK_THREADS if remote_directory(env) or not sqlite else LOCAL_THREADS


def service_of(options: Serving) -> ActivationService:
    """The service of one process, its connection pool sized to its request threads."""
    from adapters.cli.context import env

    state = Path(options.state_dir) if options.state_dir else None
    # one connection per request thread (without them: the event loop's and the console's
    # thread), one for the dispatcher: none opened under load
    return env(options.database, state, False).service(
        pool_size=(options.threads or 2) + options.pin_threads + 1)


def build_app(options: Serving, svc: ActivationService, dispatch_every: float | None, *,
              http: HttpSettings | None = None, phone: PhoneKit | None = None) -> Any:
    """The API of one process over `svc` (with its dispatcher when `dispatch_every` is set);
    `http` defaults to the options' settings, `phone` (development) adds the simulator."""
    from adapters.api import create_app
    from adapters.api.settings import server_settings

    http = http or server_settings(options.host, options.operator_token_file)
    return create_app(svc, dispatch_every=dispatch_every, http=http, threads=options.threads,
                      pin_threads=options.pin_threads, phone=phone)


def worker_app() -> Any:
    """The app of one worker process (a uvicorn factory): no dispatcher, the parent runs it.

    A worker that cannot build its app logs one line and exits with uvicorn's startup-failure
    code, so that the supervisor stops instead of starting it again and again; a worker whose
    parent is gone (killed) stops too, freeing the port.
    """
    from adapters.logs import configure_logging

    options = Serving.from_env()
    configure_logging(options.log_level, "json" if options.log_format == "json" else "plain")
    quiet_access_log(options.access_log)
    try:
        app = build_app(options, service_of(options), None)
    except Exception as exc:  # one line, never a traceback: the parent reports it
        log.error("worker process %s could not start: %s", os.getpid(), _one_line(exc))
        sys.exit(STARTUP_FAILURE)
    _stop_with_parent(options.parent or os.getppid())
    return app


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _stop_with_parent(parent: int, every: float = 0.5) -> None:
    """SIGTERM this process (uvicorn's graceful stop) once its parent is no longer `parent`."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        log.error("worker process %s: its parent %s is gone; stopping", os.getpid(), parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="ecps-parent-watch", daemon=True).start()


def quiet_access_log(wanted: bool) -> None:
    """Without `wanted`, uvicorn's access logger has no handler, so uvicorn skips its lines."""
    logging.getLogger("uvicorn.access").propagate = wanted


def supervise(config: Config, sock: socket.socket) -> None:
    """Run `config`'s `workers` processes on the listening `sock` until told to stop (uvicorn's
    supervisor: a worker that dies is started again); `WorkerFailed` if one could not start.

    The first workers start with SIGINT ignored until their server handles it, so that a
    Ctrl-C while they import stops them through the supervisor, without a traceback.
    """
    from uvicorn.supervisors import Multiprocess
    from uvicorn.supervisors.multiprocess import Process

    from adapters.cli.output import WorkerFailed

    class Supervisor(Multiprocess):
        def init_processes(self) -> None:
            with _sigint_ignored():  # only while starting them: a Ctrl-C then is not lost
                for _ in range(self.processes_num):
                    self.handle_signals()  # a SIGTERM meanwhile stops the start-up at once
                    if self.should_exit.is_set():
                        return
                    process = Process(self.config, self.sockets)
                    process.start()
                    self.processes.append(process)

    supervisor = Supervisor(config, sockets=[sock])
    supervisor.run()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        raise WorkerFailed("a worker process could not start (its log line above says why); "
                           "the server stopped")


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored in the block (a process started meanwhile inherits it), then as before."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@contextmanager
def dispatching(svc: ActivationService, longest_pause: float) -> Iterator[DispatchLoop]:
    """The outbox dispatcher of `svc` on a thread of its own until the block ends."""
    pump = DispatchLoop(svc.dispatch, svc.expire_due, longest_pause=longest_pause)
    thread = threading.Thread(target=pump.run, kwargs={"survive": True},
                              name="ecps-dispatcher", daemon=True)
    thread.start()
    try:
        yield pump
    finally:
        pump.stop()
        thread.join(timeout=10)
