"""Operator commands: audit verification, diagrams, the model checker, the server, benchmarks."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from adapters.cli.context import Database, Json, StateDirOpt, env
from adapters.cli.output import jsonable
from workflow import audit
from workflow.errors import InvalidInput

audit_app = typer.Typer(help="Check the tamper-evident audit trail.", no_args_is_help=True)
config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@config_app.command("show")
def config_show(database: Database = None, state_dir: StateDirOpt = None,
                json: Json = False) -> None:
    """Print every setting in force (the server key redacted) and where the state lives.

    Settings come from the TOML file in ECPS_CONFIG, then ECPS_<SETTING> variables
    (e.g. ECPS_PIN_LENGTH=6, ECPS_SMS_CODE_VALIDITY=3m).
    """
    from adapters.bootstrap import load_settings
    from workflow.config import describe

    e = env(database, state_dir, json)
    rows = describe(load_settings(e.state))
    where = [("state_dir", str(e.state.root)), ("database", _safe_url(e.url))]

    def render(c: Console) -> None:
        t = Table(show_edge=False, pad_edge=False)
        t.add_column("setting")
        t.add_column("value", style="bold")
        for name, value in [*where, *rows]:
            t.add_row(name, value)
        c.print(t)
    e.out.emit(dict([*where, *rows]), render)


@audit_app.command("verify")
def audit_verify(
    activation_id: Annotated[str | None, typer.Argument(
        help="One activation (default: the most recent ones).", show_default=False)] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many recent activations.")] = 1000,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Recompute every audit event's keyed hash chain; exit 1 when one was altered or cut.

    Example: [bold]ecps audit verify[/]   [bold]ecps audit verify <ID>[/]
    """
    e = env(database, state_dir, json)
    svc = e.service()
    if activation_id is not None:
        targets = [svc.status(activation_id).activation_id]
    else:
        targets = [a.id for a in svc.store.list_activations(limit)]
    findings: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    with Progress(console=e.out.err, transient=True, disable=e.out.json_mode) as progress:
        task = progress.add_task("verifying audit trails", total=len(targets))
        for aid in targets:
            events = svc.store.audit_trail(aid)
            problems = audit.verify(svc.keys, events)
            a = svc.store.get(aid)
            if a is not None and (len(events) != a.audit_seq
                                  or (events and events[-1].hash != a.audit_head)):
                problems.append(f"the trail holds {len(events)} event(s) but the activation "
                                f"recorded {a.audit_seq}: events were removed or added")
            counts[aid] = len(events)
            if problems:
                findings[aid] = problems
            progress.advance(task)
    data = {"verified": len(targets), "events": sum(counts.values()), "tampered": findings}

    def render(c: Console) -> None:
        for aid, problems in findings.items():
            for p in problems:
                c.print(Text.assemble(("tampered ", "bold red"), (aid, "bold"), f": {p}"))
        verdict = ("[bold green]intact[/]" if not findings
                   else f"[bold red]{len(findings)} trail(s) tampered[/]")
        c.print(f"{len(targets)} activation(s), {sum(counts.values())} audit event(s): {verdict}")
    e.out.emit(data, render)
    if findings:
        raise typer.Exit(1)


def diagram(
    fmt: Annotated[str, typer.Option("--format", "-f",
                                     help="dot, svg, png, mermaid, scxml or all.")] = "all",
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR",
                                      help="Where to write activation.*")] = Path("diagrams"),
    activation_id: Annotated[str | None, typer.Option(
        "--activation", metavar="ID", help="Highlight the path this activation took.")] = None,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Write the workflow's diagrams (SVG and PNG need Graphviz's `dot`).

    Examples: [bold]ecps diagram[/]   [bold]ecps diagram -f svg --activation <ID> -o /tmp[/]
    """
    from workflow.diagrams import FORMATS, GraphvizNotFound, write_diagrams

    e = env(database, state_dir, json)
    if fmt != "all" and fmt not in FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(FORMATS)} or all", "format")
    history, current, settings = None, None, None
    if activation_id:
        svc = e.service()
        st = svc.status(activation_id)
        history, current, settings = st.history, st.state, svc.settings
    missing = ""
    try:
        written = write_diagrams(out, fmt, history=history, current=current, settings=settings)
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
    definition: Annotated[str, typer.Option(
        metavar="PACKAGE.MODULE:NAME", help="The definition to check.")]
    = "workflow.definition:DEFINITION",
    json: Json = False,
) -> None:
    """Prove the §7 properties of a workflow definition by exhaustive exploration (exit 0/1).

    Example: [bold]ecps check --definition mypkg.flows:DEFINITION[/]
    """
    from workflow.checker import check as run_check
    from workflow.checker import load_definition

    out = env(None, None, json).out
    with out.err.status("exploring the definition's state space...", spinner="dots") \
            if not out.json_mode else _null():
        report = run_check(load_definition(definition))
    data = {**jsonable(report), "ok": report.ok}
    out.emit(data, lambda c: c.print(Text(report.render()), soft_wrap=True))
    if not report.ok:
        raise typer.Exit(1)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    dispatch_every: Annotated[float, typer.Option(
        "--dispatch-every", min=0, help="Seconds between background outbox rounds (0: none; "
        "then run `ecps dispatch --loop`).")] = 1.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    log_format: Annotated[str, typer.Option(
        "--log-format", help="plain, or json: one JSON object a line.")] = "plain",
    operator_token_file: Annotated[Path | None, typer.Option(
        "--operator-token-file", metavar="FILE", help="The operator's bearer token (else "
        "ECPS_OPERATOR_TOKEN or ECPS_OPERATOR_TOKEN_FILE); needed off loopback.")] = None,
    database: Database = None, state_dir: StateDirOpt = None,
) -> None:
    """Run the HTTP API over the same service (OpenAPI at /docs and /openapi.json).

    Example: [bold]ecps serve --host 0.0.0.0 --port 8000 --operator-token-file op.token[/]
    """
    import uvicorn

    from adapters.api import create_app
    from adapters.api.settings import server_settings
    from adapters.logs import configure_logging

    http = server_settings(host, operator_token_file)
    if log_format not in ("plain", "json"):
        raise InvalidInput("--log-format must be plain or json", "log_format")
    configure_logging(log_level, "json" if log_format == "json" else "plain")
    e = env(database, state_dir, False)
    svc = e.service()
    app = create_app(svc, dispatch_every=dispatch_every or None, http=http)
    e.out.err.print(f"e-CPS activation API on http://{host}:{port} (docs: /docs); "
                    f"database {_safe_url(e.url)}")
    uvicorn.run(app, host=host, port=port, log_level=log_level, log_config=None)


def _safe_url(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.rsplit("@", maxsplit=1)[-1]


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

    with Progress(console=out.err, transient=True, disable=out.json_mode) as progress:
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
