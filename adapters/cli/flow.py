"""The commands of the activation flow, one per service operation."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from adapters.cli.context import Database, Env, Json, StateDirOpt, env
from adapters.cli.output import id_arg, jsonable, steps_table, warnings_held, when
from adapters.cli.phone import decode_qr, payload_from_eml, png_file, sms_of
from workflow import ActivationService, security
from workflow.domain import AuditEvent, Delivery, MessageKind, OutboxMessage
from workflow.errors import DeliveryFailed, InvalidInput, StorageError, WrongServerKey
from workflow.outbox import DispatchLoop, Rounds
from workflow.results import ActivationStatus, Started, StepResult

ActivationId = Annotated[str, typer.Argument(metavar="ACTIVATION_ID", show_default=False,
                                             help="The id printed by `ecps request`.")]


def ask_secret(prompt: str) -> str:
    """A PIN typed hidden at a terminal, or one line of standard input when piped."""
    if sys.stdin.isatty():
        try:
            return getpass.getpass(f"{prompt}: ")
        except UnicodeDecodeError:  # bytes typed that are no text: as malformed as when piped
            raise InvalidInput(f"{prompt.strip()} is malformed (not text)", "pin") from None
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput(f"{prompt.strip()}: nothing on standard input", "pin")
    return line.rstrip("\r\n")


def request(
    national_id: Annotated[str, typer.Argument(help="The identifiant national: `8` + the RPPS.")],
    device_id: Annotated[str, typer.Option(help="The app installation asking.")] = "cli",
    send: Annotated[bool, typer.Option("--send", help="Deliver the e-mail at once.")] = False,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Ask for an activation: checks the identifier and the directory, queues the e-mail.

    Example: [bold]ecps request 899700366240 --send[/]
    """
    e = env(database, state_dir, json)
    svc = e.service()
    started = svc.request(national_id, device_id=device_id)
    with warnings_held() as held:  # a failure is the one error line below, with the first
        sent = svc.dispatch() if send else 0
    email = _email(svc, started.activation_id)
    if send and (email is None or email.status != Delivery.SENT):
        why = f"; {held[0]}" if held else ""
        raise DeliveryFailed(f"activation {started.activation_id} was created, but its e-mail "
                             f"could not be delivered now (to {_where(svc.dispatcher.mailer)}{why}): "
                             "it stays queued, and `ecps dispatch` tries again")
    for line in held:  # sent after all: what was held is shown as it would have been
        e.out.err.print(f"warning: {line}", soft_wrap=True, markup=False, highlight=False)
    state = svc.status(started.activation_id).state if send else started.state
    eml = _email_file(svc, started.activation_id) if send else None

    def render(c: Console) -> None:
        c.print(_started_table(started, state))
        if eml is not None:
            c.print(Text.assemble("e-mail with the QR code written to ", (str(eml), "bold")))
            e.out.note(f"next: `ecps scan --eml {eml}` (the phone scans the QR code)")
        elif send:
            c.print(f"e-mail with the QR code sent to [bold]{_where(svc.dispatcher.mailer)}[/]")
        else:
            e.out.note("next: `ecps dispatch` sends the e-mail with the QR code")
    e.out.emit({"started": started, "sent": sent, "state": state,
                "email_file": None if eml is None else str(eml)}, render)


def _email(svc: ActivationService, activation_id: str) -> OutboxMessage | None:
    """The newest activation e-mail of this activation in the outbox."""
    return next((m for m in reversed(svc.store.outbox_of(activation_id))
                 if m.kind == MessageKind.ACTIVATION_EMAIL), None)


def _email_file(svc: ActivationService, activation_id: str) -> Path | None:
    """The `.eml` the file mailer wrote for this activation's last activation e-mail, if any."""
    folder = getattr(svc.dispatcher.mailer, "folder", None)
    ids = [m.id for m in svc.store.outbox_of(activation_id)
           if m.kind == MessageKind.ACTIVATION_EMAIL]
    if folder is None or not ids:
        return None
    path = Path(folder) / f"{ids[-1]}.eml"
    return path if path.is_file() else None


def _where(adapter: object) -> str:
    """Where an adapter delivers: its file or folder, its server, else its kind."""
    path = getattr(adapter, "folder", None) or getattr(adapter, "path", None)
    if path is not None:
        return str(path)
    host, port = getattr(adapter, "host", None), getattr(adapter, "port", None)
    return f"{host}:{port}" if host is not None else type(adapter).__name__


def _started_table(s: Started, state: str) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_row("activation", Text(s.activation_id, style="bold"))
    t.add_row("state", Text(str(state), style="bold green"))
    t.add_row("e-mail", s.masked_email)
    t.add_row("mobile", s.masked_phone)
    t.add_row("expires", when(s.deadline))
    if s.superseded:
        t.add_row("superseded", ", ".join(s.superseded))
    return t


def dispatch(
    loop: Annotated[bool, typer.Option("--loop", help="Keep delivering until stopped (Ctrl-C).")]
    = False,
    interval: Annotated[float, typer.Option(
        min=0.01, help="Longest pause while the outbox is empty (--loop); no pause while "
        "messages are due.")] = 0.25,
    duration: Annotated[float | None, typer.Option(
        min=0, help="Stop the loop after this many seconds.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Messages per round.")] = 100,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Deliver the due e-mails, SMS and events of the outbox (and, with --loop, expire due flows).

    Events go to the webhook ECPS_WEBHOOK_URL names (signed with ECPS_WEBHOOK_SECRET); without
    one they stay in the outbox.

    Examples: [bold]ecps dispatch[/]   [bold]ecps dispatch --loop --interval 2[/]
    """
    e = env(database, state_dir, json)
    svc = e.service()
    if not loop:
        sent = svc.dispatch(limit)
        e.out.emit({"sent": sent}, lambda c: c.print(
            f"sent {sent} message(s); e-mails to {_where(svc.dispatcher.mailer)}, "
            f"SMS to {_where(svc.dispatcher.sms)}"
            + (f", events to {svc.sink!r}" if svc.sink is not None else "")))
        return
    pump = DispatchLoop(lambda: svc.dispatch(limit), svc.expire_due, longest_pause=interval)
    # a terminal gets one line updated in place; a pipe gets a line per round that did something
    live = None if e.out.json_mode or not e.out.console.is_terminal else Live(
        console=e.out.console, transient=False, refresh_per_second=4)
    shown = [0, 0]  # sent and expired when the last line was printed

    def show(done: Rounds) -> None:
        line = Text.assemble(("dispatching ", "bold"), f"round {done.rounds}: ",
                             (f"{done.sent} sent", "green"), ", ",
                             (f"{done.expired} expired", "yellow"))
        if live:
            live.update(Text.assemble(line, ("  (Ctrl-C stops)", "dim")))
        elif [done.sent, done.expired] != shown:
            e.out.console.print(line, soft_wrap=True)
            shown[:] = [done.sent, done.expired]

    try:
        if live:
            live.start()
        pump.run(duration, after_round=None if e.out.json_mode else show)
    except KeyboardInterrupt:
        pass
    finally:
        if live:
            live.stop()
    sent, expired, rounds = pump.done.sent, pump.done.expired, pump.done.rounds
    e.out.emit({"sent": sent, "expired": expired, "rounds": rounds},
               lambda c: c.print(f"stopped after {rounds} round(s): {sent} sent, {expired} expired"))


def scan(
    payload: Annotated[str | None, typer.Argument(
        help="The text of the QR code (the deep link).", show_default=False)] = None,
    png: Annotated[Path | None, typer.Option("--png", metavar="FILE",
                                             help="Decode the QR code from this image.")] = None,
    eml: Annotated[Path | None, typer.Option("--eml", metavar="FILE",
                                             help="Decode the QR code of this e-mail file.")] = None,
    activation_id: Annotated[str | None, typer.Option(
        "--id", help="The activation (default: the one named in the payload).")] = None,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Scan the QR code, as the app does: from its text, a PNG or the `.eml` it came in.

    Example: [bold]ecps scan --eml .ecps/mail/<id>.eml[/]
    """
    e = env(database, state_dir, json)
    given = [x for x in (payload, png, eml) if x is not None]
    if len(given) != 1:
        raise InvalidInput("give exactly one of PAYLOAD, --png FILE or --eml FILE", "qr_payload")
    if png is not None:
        text = decode_qr(png_file(png))
    elif eml is not None:
        text = payload_from_eml(eml)
    else:
        text = str(payload)
    svc = e.service()
    if activation_id is None:
        activation_id = security.parse_payload(text, svc.settings.deep_link_base)[0]
    _emit_step(e, svc.scan(activation_id, text), "next: `ecps dispatch` sends the SMS code")


def _emit_step(e: Env, result: StepResult, hint: str = "") -> None:
    def render(c: Console) -> None:
        c.print(steps_table(result.steps))
        c.print(Text.assemble("activation ", (result.activation_id, "bold"), " is now ",
                              (str(result.state), "bold green")))
        if hint:
            e.out.note(hint)
    e.out.emit(result, render)


def resend_email(activation_id: ActivationId, database: Database = None,
                 state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Send the activation e-mail again with a new QR code (the old one dies)."""
    e = env(database, state_dir, json)
    _emit_step(e, e.service().resend_email(activation_id), "next: `ecps dispatch`")


def resend_sms(activation_id: ActivationId, database: Database = None,
               state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Send a new SMS code (the old one dies)."""
    e = env(database, state_dir, json)
    _emit_step(e, e.service().resend_sms(activation_id), "next: `ecps dispatch`")


def verify_sms(
    activation_id: ActivationId,
    code: Annotated[str | None, typer.Argument(
        help="The code received (default: the last SMS sent for this activation, read from the "
             "state folder's SMS file).",
        show_default=False)] = None,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Submit the SMS code.

    Examples: [bold]ecps verify-sms ID 123456[/]   [bold]ecps verify-sms ID[/] (reads this
    activation's SMS from the SMS file)
    """
    e = env(database, state_dir, json)
    svc = e.service()
    if code is None:
        code = sms_of(svc, e.state.sms, svc.status(activation_id).activation_id).code
    result = svc.verify_sms(activation_id, code)
    _emit_step(e, result, f"next: `ecps set-pin {id_arg(result.activation_id)}`")


PinArg = Annotated[str | None, typer.Argument(
    help="The PIN (default: typed hidden, or one line of standard input).", show_default=False)]


def set_pin(activation_id: ActivationId, pin: PinArg = None, database: Database = None,
            state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Choose the PIN (its format and strength are checked).

    Example: [bold]echo 4821 | ecps set-pin ID[/]
    """
    e = env(database, state_dir, json)
    svc = e.service()
    result = svc.set_pin(activation_id, pin if pin is not None else ask_secret("PIN"))
    _emit_step(e, result, f"next: `ecps confirm-pin {id_arg(result.activation_id)}`")


def confirm_pin(activation_id: ActivationId, pin: PinArg = None, database: Database = None,
                state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Confirm the PIN: equal activates the e-CPS, different goes back to choosing it."""
    e = env(database, state_dir, json)
    e.out.activation_id = activation_id  # a mismatch's next step names it
    svc = e.service()
    entered = pin if pin is not None else ask_secret("PIN again")
    _emit_step(e, svc.confirm_pin(activation_id, entered))


def authenticate(activation_id: ActivationId, pin: PinArg = None, database: Database = None,
                 state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Log in with the PIN of an active e-CPS (as Pro Santé Connect would)."""
    e = env(database, state_dir, json)
    svc = e.service()
    ok = svc.authenticate(activation_id, pin if pin is not None else ask_secret("PIN"))
    e.out.emit({"activation_id": activation_id, "authenticated": ok},
               lambda c: c.print("[bold green]authenticated[/]"))


def cancel(activation_id: ActivationId, database: Database = None,
           state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Abandon an activation in flight."""
    e = env(database, state_dir, json)
    _emit_step(e, e.service().cancel(activation_id))


def revoke(
    activation_id: ActivationId,
    reason: Annotated[str, typer.Option(
        help="deleted, admin, replaced, lost or compromised.")] = "deleted",
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Revoke an active e-CPS."""
    e = env(database, state_dir, json)
    _emit_step(e, e.service().revoke(activation_id, reason=reason))


def expire(database: Database = None, state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Record `expire` on every activation whose deadline has passed."""
    e = env(database, state_dir, json)
    n = e.service().expire_due()
    e.out.emit({"expired": n}, lambda c: c.print(f"expired {n} activation(s)"))


def status(activation_id: ActivationId, database: Database = None,
           state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Show an activation: state, history with each step's outcome, deadline, attempts left."""
    e = env(database, state_dir, json, read_only=True)
    svc = e.service()
    st = svc.status(activation_id)
    outcomes = step_outcomes(st, svc.store.audit_trail(st.activation_id))
    data = {**jsonable(st), "history": [{**jsonable(s), "outcome": o}
                                        for s, o in zip(st.history, outcomes, strict=True)]}
    e.out.emit(data, lambda c: render_status(c, st, outcomes))


def step_outcomes(st: ActivationStatus, trail: list[AuditEvent]) -> list[str]:
    """The outcome of each step of `st.history` (`ok`, or `wrong: <reason>`...), from the audit
    trail: the events that took a step carry its number (refusals carry none)."""
    by_step = {e.step: e for e in trail if e.step}
    first = st.history_total - len(st.history) + 1
    outcomes = []
    for i, step in enumerate(st.history):
        event = by_step.get(first + i)
        if event is None or event.action != step.event or event.dest != step.dest:
            outcomes.append("?")
        elif event.outcome == "ok" or not event.reason:
            outcomes.append(event.outcome)
        else:
            outcomes.append(f"{event.outcome}: {event.reason}")
    return outcomes


def render_status(c: Console, st: ActivationStatus, outcomes: list[str] | None = None) -> None:
    """An activation's status for people."""
    t = Table.grid(padding=(0, 2))
    t.add_row("activation", Text(st.activation_id, style="bold"))
    t.add_row("state", Text(str(st.state), style="bold green"))
    if st.closed_reason:
        t.add_row("reason", st.closed_reason)
    t.add_row("e-mail / mobile", f"{st.masked_email} / {st.masked_phone}")
    t.add_row("created", when(st.created_at))
    t.add_row("deadline", when(st.deadline))
    t.add_row("attempts left", "-" if st.attempts_left is None else str(st.attempts_left))
    t.add_row("counters", ", ".join(f"{k}={v}" for k, v in st.counters.items()))
    c.print(t)
    c.print(steps_table(st.history, title="history", numbered=True, outcomes=outcomes,
                        first=st.history_total - len(st.history) + 1))  # the newest are shown


def list_activations(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="How many, newest first.")] = 20,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """List the most recent activations, newest first (ids in full, to copy)."""
    e = env(database, state_dir, json, read_only=True)
    svc = e.service()
    rows = [_status_or_damage(svc, a.id) for a in svc.store.list_activations(limit)]

    def render(c: Console) -> None:
        t = Table(show_edge=False, pad_edge=False)
        widest = max((len(_id_of(st)) for st in rows), default=10)
        t.add_column("activation", no_wrap=True, min_width=widest)  # never cut: it is copied
        for name in ("state", "created (UTC)", "e-mail", "mobile", "steps"):
            t.add_column(name, overflow="fold")
        for st in rows:
            if isinstance(st, dict):
                t.add_row(st["activation_id"], Text("damaged", style="bold red"), "-", "-", "-", "-")
                continue
            t.add_row(st.activation_id, str(st.state), st.created_at.strftime("%Y-%m-%d %H:%M"),
                      st.masked_email, st.masked_phone, str(st.history_total))
        c.print(t if rows else "no activation yet")
        if any(isinstance(st, dict) and st["error"]["wrong_key"] for st in rows):
            e.out.note("activations sealed with another server key: this database was made "
                       "with another key than the one configured")
        elif any(isinstance(st, dict) for st in rows):
            e.out.note("a damaged activation does not match its audit trail: "
                       "`ecps audit verify` says what differs")
    e.out.emit(rows, render)


def _status_or_damage(svc: ActivationService, activation_id: str) -> ActivationStatus | dict[str, Any]:
    """The activation's status, or what is wrong with its stored row (the list goes on)."""
    try:
        return svc.status(activation_id)
    except StorageError as exc:
        return {"activation_id": activation_id,
                "error": {"kind": "storage_error", "message": str(exc),
                          "wrong_key": isinstance(exc, WrongServerKey)}}


def _id_of(row: ActivationStatus | dict[str, Any]) -> str:
    return str(row["activation_id"]) if isinstance(row, dict) else row.activation_id


def register(app: typer.Typer) -> None:
    """Add the flow commands to `app`."""
    panel = "Activation flow"
    for fn, name in ((request, "request"), (dispatch, "dispatch"), (scan, "scan"),
                     (resend_email, "resend-email"), (resend_sms, "resend-sms"),
                     (verify_sms, "verify-sms"), (set_pin, "set-pin"),
                     (confirm_pin, "confirm-pin"), (authenticate, "authenticate"),
                     (cancel, "cancel"), (revoke, "revoke"), (expire, "expire"),
                     (status, "status"), (list_activations, "list")):
        app.command(name, rich_help_panel=panel)(fn)
