"""Operator commands: audit verification, diagrams, the model checker, the server, benchmarks."""

from __future__ import annotations

import importlib.util
import json as _json
import os
import secrets
import socket
from contextlib import nullcontext
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from adapters.cli.context import Database, Json, StateDirOpt, env
from adapters.cli.output import PortBusy, jsonable
from workflow.config import ConfigError
from workflow.errors import InvalidInput
from workflow.settings import Settings

audit_app = typer.Typer(help="Check the tamper-evident audit trail.", no_args_is_help=True)
config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@config_app.command("show")
def config_show(database: Database = None, state_dir: StateDirOpt = None,
                json: Json = False) -> None:
    """Print every setting in force (the server key redacted) and where the state lives.

    Settings come from the TOML file in ECPS_CONFIG, then ECPS_<SETTING> variables
    (e.g. ECPS_PIN_LENGTH=6, ECPS_SMS_CODE_VALIDITY=3m).
    """
    from workflow.config import describe, load, typed

    e = env(database, state_dir, json, read_only=True)
    try:
        settings, key = e.existing_settings(), None
    except ConfigError as exc:  # show the rest anyway: the key is made at first use
        if not any(p.startswith("no server key") for p in exc.problems):
            raise
        settings = load(overrides={"secret_key": secrets.token_urlsafe(32)})
        key = f"<none yet: made at first use in {e.state.key}>"
    where = [("state_dir", str(e.state.root)), ("database", _safe_url(e.url)), *_webhook()]
    shown = [(n, key if key and n == "secret_key" else v) for n, v in describe(settings)]
    values = {**typed(settings), **({"secret_key": key} if key else {})}

    def render(c: Console) -> None:
        t = Table(show_edge=False, pad_edge=False)
        t.add_column("setting")
        t.add_column("value", style="bold")
        for name, value in [*where, *shown]:
            t.add_row(name, value)
        c.print(t)
        e.out.note("--json gives numbers, booleans and durations in seconds")
    e.out.emit({**dict(where), **values}, render)


@audit_app.command("verify")
def audit_verify(
    activation_id: Annotated[str | None, typer.Argument(
        help="One activation (default: every activation).", show_default=False)] = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help="Only the first N activations (by id); every one when not given.")] = None,
    since_checkpoint: Annotated[Path | None, typer.Option(
        "--since-checkpoint", metavar="FILE",
        help="Also prove nothing recorded before this checkpoint was removed or changed.")] = None,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Verify every audit trail: its keyed hash chain, its replay through the definition, its row.

    Exit 1 when an event was altered or cut, or a row disagrees with what its trail replays to.
    Trails replay with the bounds and validities in force (the $ECPS_CONFIG file, ECPS_*
    variables): run it with the settings the events were recorded under.
    Example: [bold]ecps audit verify[/]   [bold]ecps audit verify --since-checkpoint ck.json[/]
    """
    from workflow.verification import Checkpoint, verify_activation, verify_checkpoint, verify_trails

    checkpoint = None
    if since_checkpoint is not None:
        try:
            checkpoint = Checkpoint.from_dict(_json.loads(since_checkpoint.read_text()))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read the checkpoint {since_checkpoint}: {exc}",
                               "since_checkpoint") from None

    e = env(database, state_dir, json, read_only=True)  # a new key would verify nothing
    svc = e.service()
    with Progress(console=e.out.err, transient=True,  # a bar on a terminal only: else nothing
                  disable=e.out.json_mode or not e.out.err.is_terminal) as progress:
        task = progress.add_task("verifying audit trails", total=limit)
        found = (verify_activation(svc.store, svc.keys, svc.engine, activation_id)
                 if activation_id is not None else  # an unknown id is an error of its own
                 verify_trails(svc.store, svc.keys, svc.engine, limit=limit,
                               progress=lambda n: progress.advance(task, n)))
        if activation_id is None and limit is None:  # and the logins' trails
            from workflow.login.verification import verify_logins
            verify_logins(svc.store, svc.keys, svc.logins.engine, found)
    tampered: dict[str, list[str]] = {}
    for f in found.findings:
        tampered.setdefault(f.activation_id, []).append(f.problem)
    removed = verify_checkpoint(svc.store, svc.keys, checkpoint) if checkpoint is not None else []
    intact = found.intact and not removed
    if found.wrong_key:
        raise ConfigError([f"none of the {found.events} audit event(s) matches this server key "
                           f"({e.state.key}): give the --state-dir (or ECPS_SECRET_KEY_FILE) "
                           "of the key this database was written with"])
    data = {"verified": found.activations, "logins": found.logins, "events": found.events,
            "intact": intact,
            "wrong_key": found.wrong_key, "tampered": tampered, "since_checkpoint": removed}

    def render(c: Console) -> None:
        for aid, problems in tampered.items():
            for p in problems:
                c.print(Text.assemble(("tampered ", "bold red"), (aid, "bold"), f": {p}"))
        for p in removed:
            c.print(Text.assemble(("checkpoint: ", "bold red"), p))
        verdict = ("[bold green]intact[/]" if intact
                   else f"[bold red]{len(tampered)} trail(s) tampered[/]" if tampered
                   else "[bold red]not intact[/]")
        c.print(f"{found.activations} activation(s), {found.logins} login(s), "
                f"{found.events} audit event(s): {verdict}")
        if tampered:
            e.out.note("trails replay with the bounds and validities in force: a setting changed "
                       "since their events were recorded shows here too")
    e.out.emit(data, render)
    if not intact:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="FILE", help="Also write the checkpoint to FILE.")] = None,
    margin: Annotated[int, typer.Option(
        min=0, metavar="SECONDS",
        help="Cover what was recorded this long ago (commits in flight settle).")] = 60,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Print a signed summary of every audit event recorded so far, to keep elsewhere.

    Later, [bold]ecps audit verify --since-checkpoint FILE[/] proves that nothing recorded
    before it was removed or changed (whole activations with their trail included).
    """
    from workflow.verification import make_checkpoint

    e = env(database, state_dir, json, read_only=True)
    svc = e.service()
    checkpoint = make_checkpoint(svc.store, svc.keys, svc.now(), timedelta(seconds=margin))
    text = _json.dumps(checkpoint.as_dict(), indent=2)
    if out is not None:
        out.write_text(text + "\n")
    e.out.emit(checkpoint.as_dict(), lambda c: c.print(text, soft_wrap=True))


class DiagramFormat(StrEnum):
    """What `ecps diagram` writes (the formats of `workflow.diagrams.FORMATS`, or all)."""

    DOT = "dot"
    SVG = "svg"
    PNG = "png"
    MERMAID = "mermaid"
    SCXML = "scxml"
    ALL = "all"


def diagram(
    fmt: Annotated[DiagramFormat, typer.Option(
        "--format", "-f", help="The format to write (all: every one).")] = DiagramFormat.ALL,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR",
                                      help="Where to write activation.*")] = Path("diagrams"),
    activation_id: Annotated[str | None, typer.Option(
        "--activation", metavar="ID", help="Highlight the path this activation took.")] = None,
    definition: Annotated[str | None, typer.Option(
        metavar="PACKAGE.MODULE:NAME",
        help="Draw this definition instead of the activation (files named after it).")] = None,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Write a workflow's diagrams (SVG and PNG need Graphviz's `dot`), with the bounds of the
    settings in force (the configuration file and ECPS_* variables).

    Examples: [bold]ecps diagram[/]   [bold]ecps diagram -f svg --activation <ID> -o /tmp[/]
    [bold]ecps diagram --definition mypkg.flows:DEFINITION[/]
    """
    from workflow.checker import load_definition
    from workflow.definition import DEFINITION
    from workflow.diagrams import GraphvizNotFound, write_diagrams

    e = env(database, state_dir, json)
    if definition and activation_id:
        raise InvalidInput("--activation and --definition cannot be used together", "definition")
    drawn = load_definition(definition) if definition else DEFINITION
    stem = "activation" if drawn is DEFINITION else str(drawn.name)
    history, current, settings = None, None, _bounds_in_force()  # the bounds in force
    if activation_id:
        e.read_only = True
        svc = e.service()
        st = svc.status(activation_id)
        history, current, settings = st.history, st.state, svc.settings
    missing = ""
    try:
        written = write_diagrams(out, fmt.value, drawn, history=history, current=current, settings=settings,
                                 stem=stem)
        if not definition and not activation_id:  # the shipped login is drawn beside it
            from workflow.login import LOGIN_DEFINITION
            written += write_diagrams(out, fmt.value, LOGIN_DEFINITION, stem="login",
                                      settings=settings)
    except GraphvizNotFound as exc:
        if fmt != "all":
            raise
        written, missing = exc.written, str(exc)

    def render(c: Console) -> None:
        for p in written:
            c.print(f"wrote [bold]{p}[/]")
        if missing:
            e.out.note(f"SVG and PNG skipped: {missing}")
    e.out.emit({"written": [str(p) for p in written], "skipped_images": bool(missing)}, render)


def check(
    definition: Annotated[str | None, typer.Option(
        metavar="PACKAGE.MODULE:NAME",
        help="The definition to check (default: the activation and the login).")] = None,
    json: Json = False,
) -> None:
    """Prove a workflow definition's properties (docs/specification.md §7) exhaustively (exit 0/1).

    Without --definition both shipped definitions are checked. The module is looked up from
    the current folder too; a definition that fails validation is still checked, so its
    counter-examples can be shown. Bounds and deadlines are the service's: the $ECPS_CONFIG
    file, then the ECPS_* variables. Example: [bold]ecps check --definition mypkg.flows:DEFINITION[/]
    """
    from workflow.checker import check as run_check
    from workflow.checker import load_definition

    out = env(None, None, json).out
    names = [definition] if definition else list(SHIPPED_DEFINITIONS)
    with out.err.status("exploring the definition's state space...", spinner="dots") \
            if not out.json_mode else _null():
        reports = [run_check(load_definition(name), settings=_bounds_in_force()) for name in names]
    ok = all(r.ok for r in reports)
    data = {**jsonable(reports[0]), "ok": ok}  # the first report's fields, as with one definition
    if len(reports) > 1:
        data["reports"] = [{**jsonable(r), "ok": r.ok} for r in reports]

    def render(c: Console) -> None:
        for r in reports:
            c.print(Text(r.render()), soft_wrap=True)
    out.emit(data, render)
    if not ok:
        raise typer.Exit(1)


MAX_WORKERS = 64  # each worker process holds its own interpreter, app and connections

SHIPPED_DEFINITIONS = ("workflow.definition:DEFINITION", "workflow.login:LOGIN_DEFINITION")


def _bounds_in_force() -> Settings:
    """The settings the service runs with (the `$ECPS_CONFIG` file, then `ECPS_*` variables),
    for bounds and deadlines only: a stand-in key, as nothing is sealed with it."""
    from workflow.config import load

    return load(overrides={"secret_key": "bounds-only-" + "b" * 24})


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


class LogLevel(StrEnum):
    """The lowest level `ecps serve` logs."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"
    TRACE = "trace"


class LogFormat(StrEnum):
    """How `ecps serve` writes its log lines."""

    PLAIN = "plain"
    JSON = "json"


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int | None, typer.Option(
        min=1, max=MAX_WORKERS, help="Server processes sharing the port and the database, at "
        f"most {MAX_WORKERS} (default: the number of cores); the dispatcher runs once, in the "
        "command's own process (with one worker "
        "too, unless --dev or the database is in memory).",
        show_default=False)] = None,
    threads: Annotated[int | None, typer.Option(
        min=0, help="Request threads per process, the PIN checks apart; 0: the event loop's own "
        "thread, no hand-over (default: 0 on SQLite with a directory file, 8 on PostgreSQL or "
        "with a directory API, where requests wait on the network); each keeps one database "
        "connection.",
        show_default=False)] = None,
    pin_threads: Annotated[int | None, typer.Option(
        min=1, help="Threads per process for the requests that hash or check a PIN (default: "
        "4); each keeps one database connection.", show_default=False)] = None,
    dispatch_every: Annotated[float, typer.Option(
        "--dispatch-every", min=0, help="Longest pause of the background dispatcher while the "
        "outbox is empty; none while messages are due (0: no dispatcher here, run `ecps dispatch "
        "--loop`).")] = 1.0,
    log_level: Annotated[LogLevel, typer.Option(
        case_sensitive=False, help="The lowest level logged.")] = LogLevel.INFO,
    log_format: Annotated[LogFormat, typer.Option(
        "--log-format", help="plain, or json: one JSON object a line.")] = LogFormat.PLAIN,
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log", help="One log line per HTTP request (uvicorn's).")] = False,
    operator_token_file: Annotated[Path | None, typer.Option(
        "--operator-token-file", metavar="FILE", help="The operator's bearer token (else "
        "ECPS_OPERATOR_TOKEN or ECPS_OPERATOR_TOKEN_FILE); needed off loopback.")] = None,
    forwarded_allow_ips: Annotated[str, typer.Option(
        "--forwarded-allow-ips", metavar="IPS", help="Proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (comma-separated addresses, * for any); '' believes "
        "none: give '' when no HTTP proxy sets them (a TCP proxy, or none on this host), else "
        "a client there picks the address its requests are counted under.")] = "127.0.0.1",
    dev: Annotated[bool, typer.Option("--dev", help="Development: the phone simulator at /console/phone "
                                      "and a clock it can skip ahead (loopback only).")] = False,
    database: Database = None, state_dir: StateDirOpt = None,
) -> None:
    """Run the HTTP API over the same service (OpenAPI at /docs and /openapi.json).

    Example: [bold]ecps serve --host 0.0.0.0 --port 8000 --workers 4 --operator-token-file op.token[/]
    """
    import uvicorn

    from adapters.api.app import create_tables
    from adapters.api.console import dev_server, refuse_off_loopback
    from adapters.api.lanes import DEFAULT_PIN_THREADS
    from adapters.api.settings import server_settings
    from adapters.cli import serving
    from adapters.logs import announce, configure_logging

    http = server_settings(host, operator_token_file)  # a bad token or host fails here, in one line
    if dev:
        refuse_off_loopback(host)
    level, fmt = str(log_level.value), str(log_format.value)
    handler = configure_logging(level, "json" if fmt == "json" else "plain")

    def banner(text: str) -> None:  # a log record in a JSON log, else one line as it is
        if fmt == "json":
            announce(handler, "ecps.serve", text)
        else:
            e.out.err.print(text, soft_wrap=True, markup=False, highlight=False)

    e = env(database, state_dir, False)
    workers = workers or (1 if dev else min(os.cpu_count() or 1, MAX_WORKERS))
    if dev and workers > 1:
        raise InvalidInput("--dev runs one process (the simulator keeps what it received in "
                           "memory): give --workers 1", "workers")
    if workers > 1 and _in_memory(e.url):
        raise InvalidInput("an in-memory database cannot be shared by worker processes: "
                           "give --workers 1 or a database file", "workers")
    trusted = forwarded_allow_ips.strip()
    proxies: dict[str, Any] = {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}
    sock = _listen(host, port)  # held from now on: a second server on the port is told at once
    options = serving.Serving(host, e.database, str(e.state.root),
                              str(operator_token_file) if operator_token_file else None,
                              level, fmt,
                              serving.default_threads(e.url, os.environ) if threads is None else threads,
                              access_log, os.getpid(), pin_threads or DEFAULT_PIN_THREADS)
    svc = serving.service_of(options)
    svc.store.list_activations(1)  # a database that cannot answer fails now (and is brought up to date)
    phone = None
    if dev:
        phone, http, note = dev_server(svc, http, e.state.root)
        banner(note)
    shown = f" ({workers} worker processes)" if workers > 1 else ""
    banner(f"e-CPS activation API on http://{host}:{port}{shown} (docs: /docs); "
                    f"database {_safe_url(e.url)}")
    if workers == 1 and (dev or not dispatch_every or _in_memory(e.url)):
        # one process: the simulator's memory, an in-memory database, or no dispatcher here
        app = serving.build_app(options, svc, dispatch_every or None, http=http, phone=phone)
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=level, log_config=None,
                                      access_log=access_log, **proxies)).run(sockets=[sock])
        return
    create_tables(svc)  # once, before the workers: none of them creates a table another is creating
    os.environ[serving.OPTIONS_VARIABLE] = options.to_env()  # read by each worker process
    with serving.dispatching(svc, dispatch_every) if dispatch_every else nullcontext():
        serving.supervise(uvicorn.Config(
            "adapters.cli.serving:worker_app", factory=True, workers=workers, host=host,
            port=port, log_level=level, log_config=None, access_log=access_log, **proxies), sock)


def _in_memory(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _webhook() -> list[tuple[str, str]]:
    """The event feed's webhook as configured: its URL (no credentials or query), its secret masked."""
    from urllib.parse import urlsplit

    from adapters.bootstrap import WEBHOOK_SECRET, WEBHOOK_SECRET_FILE, WEBHOOK_URL

    url = os.environ.get(WEBHOOK_URL, "").strip()
    if not url:
        return [("webhook_url", "none: events stay in the outbox"), ("webhook_secret", "none")]
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
    if given := os.environ.get(WEBHOOK_SECRET):
        secret = f"<redacted, {len(given.encode())} bytes>"
    elif path := os.environ.get(WEBHOOK_SECRET_FILE):
        secret = f"<redacted, in {path}>"
    else:
        secret = f"missing: set {WEBHOOK_SECRET}"
    return [("webhook_url", shown), ("webhook_secret", secret)]


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host:port` for the server; `PortBusy` when another process listens
    there, `InvalidInput` when this machine cannot listen there (no such address...)."""
    import errno

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, as uvicorn does: asyncio sets TCP_NODELAY on accepted connections only
    # then (with proto 0 each answer waited for the client's delayed ACK, ~40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortBusy(f"port {port} on {host} is already in use: stop the other server, "
                           "or choose another --port") from exc
        reason = exc.strerror or type(exc).__name__
        raise InvalidInput(f"cannot listen on {host} port {port}: {reason} (--host)", "host") from exc
    sock.set_inheritable(True)  # given to the worker processes
    return sock


def _safe_url(url: str) -> str:
    """The URL without its password (in its user part or its query)."""
    from adapters.sql import shown_url

    return shown_url(url)


def bench(
    names: Annotated[list[str] | None, typer.Argument(
        help="Benchmarks to run (default: all).", show_default=False)] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Tiny sizes: a smoke run.")] = False,
    pg_url: Annotated[str | None, typer.Option(
        "--pg-url", metavar="URL", help="PostgreSQL for the PostgreSQL benchmarks.")] = None,
    json: Json = False,
) -> None:
    """Measure the engine (numbers, not pass/fail); needs a source checkout's benchmarks/.

    Example: [bold]ecps bench --quick[/]   [bold]ecps bench engine_memory[/]
    """
    out = env(None, None, json).out
    if importlib.util.find_spec("adapters.bench") is None:
        out.err.print("benchmarks are not part of this installation (adapters.bench is missing)")
        raise typer.Exit(1)
    from adapters import bench as benchmarks

    with Progress(console=out.err, transient=True,
                  disable=out.json_mode or not out.err.is_terminal) as progress:
        chosen = benchmarks.names(names or ())
        task = progress.add_task("benchmarks", total=len(chosen))

        def started(name: str) -> None:
            if progress.tasks[task].description != "benchmarks":
                progress.advance(task)
            progress.update(task, description=f"running {name}")

        options = {"pg_url": pg_url} if pg_url else {}
        results = benchmarks.run(chosen, quick, options=options, progress=started)
    out.emit({"machine": benchmarks.machine(), "results": [r.to_dict() for r in results]},
             lambda c: c.print(Text("\n\n".join(r.table() for r in results)), soft_wrap=True))


def register(app: typer.Typer) -> None:
    """Add the operator commands to `app`."""
    panel = "Operations"
    app.add_typer(audit_app, name="audit", rich_help_panel=panel)
    app.add_typer(config_app, name="config", rich_help_panel=panel)
    for fn, name in ((diagram, "diagram"), (check, "check"), (serve, "serve"), (bench, "bench")):
        app.command(name, rich_help_panel=panel)(fn)
