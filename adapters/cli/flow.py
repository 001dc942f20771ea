"""The commands of the activation flow, one per service operation."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from adapters.cli.context import Database, Env, Json, StateDirOpt, env
from adapters.cli.output import steps_table, when
from adapters.cli.phone import decode_qr, latest_code, payload_from_eml
from workflow import security
from workflow.errors import InvalidInput
from workflow.outbox import DispatchLoop, Rounds
from workflow.results import ActivationStatus, Started, StepResult

ActivationId = Annotated[str, typer.Argument(metavar="ACTIVATION_ID", show_default=False,
                                             help="The id printed by `ecps request`.")]


def ask_secret(prompt: str) -> str:
    """A PIN typed hidden at a terminal, or one line of standard input when piped."""
    if sys.stdin.isatty():
        return getpass.getpass(f"{prompt}: ")
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
    sent = svc.dispatch() if send else 0

    def render(c: Console) -> None:
        c.print(_started_table(started))
        if send:
            c.print(f"e-mail with the QR code sent to [bold]{_where(svc.dispatcher.mailer)}[/] "
                    f"({sent} sent)")
        else:
            e.out.note("next: `ecps dispatch` sends the e-mail with the QR code")
    e.out.emit({"started": started, "sent": sent}, render)


def _where(adapter: object) -> str:
    """Where an adapter delivers: its file or folder, else its description."""
    path = getattr(adapter, "folder", None) or getattr(adapter, "path", None)
    return str(path) if path is not None else repr(adapter)


def _started_table(s: Started) -> Table:
    t = Table.grid(padding=(0, 2))
    t.add_row("activation", Text(s.activation_id, style="bold"))
    t.add_row("state", Text(str(s.state), style="bold green"))
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
    """Deliver the due e-mails and SMS of the outbox (and, with --loop, expire due flows).

    Examples: [bold]ecps dispatch[/]   [bold]ecps dispatch --loop --interval 2[/]
    """
    e = env(database, state_dir, json)
    svc = e.service()
    if not loop:
        sent = svc.dispatch(limit)
        e.out.emit({"sent": sent}, lambda c: c.print(
            f"sent {sent} message(s); e-mails to {_where(svc.dispatcher.mailer)}, "
            f"SMS to {_where(svc.dispatcher.sms)}"))
        return
    pump = DispatchLoop(lambda: svc.dispatch(limit), svc.expire_due, longest_pause=interval)
    live = None if e.out.json_mode else Live(console=e.out.console, transient=False,
                                             refresh_per_second=4)

    def show(done: Rounds) -> None:
        if live:
            live.update(Text.assemble(("dispatching ", "bold"), f"round {done.rounds}: ",
                                      (f"{done.sent} sent", "green"), ", ",
                                      (f"{done.expired} expired", "yellow"),
                                      ("  (Ctrl-C stops)", "dim")))
    try:
        if live:
            live.start()
        pump.run(duration, after_round=show if live else None)
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
        try:
            text = decode_qr(png.read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read {png}: {exc.strerror}", "png") from exc
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
        help="The code received (default: read the last SMS of the state folder's SMS file).",
        show_default=False)] = None,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Submit the SMS code.

    Examples: [bold]ecps verify-sms ID 123456[/]   [bold]ecps verify-sms ID[/] (reads the SMS file)
    """
    e = env(database, state_dir, json)
    svc = e.service()
    if code is None:
        code = latest_code(e.state.sms, svc.settings.sms_code_digits)
        if code is None:
            raise InvalidInput(f"no SMS code in {e.state.sms}; give the CODE", "code")
    _emit_step(e, svc.verify_sms(activation_id, code), "next: `ecps set-pin ID`")


PinArg = Annotated[str | None, typer.Argument(
    help="The PIN (default: typed hidden, or one line of standard input).", show_default=False)]


def set_pin(activation_id: ActivationId, pin: PinArg = None, database: Database = None,
            state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Choose the PIN (its format and strength are checked).

    Example: [bold]echo 4821 | ecps set-pin ID[/]
    """
    e = env(database, state_dir, json)
    svc = e.service()
    _emit_step(e, svc.set_pin(activation_id, pin if pin is not None else ask_secret("PIN")),
               "next: `ecps confirm-pin ID`")


def confirm_pin(activation_id: ActivationId, pin: PinArg = None, database: Database = None,
                state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Confirm the PIN: equal activates the e-CPS, different goes back to choosing it."""
    e = env(database, state_dir, json)
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
    """Show an activation: state, history, deadline, attempts left (no secret)."""
    e = env(database, state_dir, json)
    st = e.service().status(activation_id)
    e.out.emit(st, lambda c: render_status(c, st))


def render_status(c: Console, st: ActivationStatus) -> None:
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
    c.print(steps_table(st.history, title="history", numbered=True))


def list_activations(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="How many, newest first.")] = 20,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """List the most recent activations, newest first."""
    e = env(database, state_dir, json)
    svc = e.service()
    rows = [svc.status(a.id) for a in svc.store.list_activations(limit)]

    def render(c: Console) -> None:
        t = Table(show_edge=False, pad_edge=False)
        for name in ("activation", "state", "created (UTC)", "e-mail", "mobile", "steps"):
            t.add_column(name)
        for st in rows:
            t.add_row(st.activation_id, str(st.state), st.created_at.strftime("%Y-%m-%d %H:%M"),
                      st.masked_email, st.masked_phone, str(len(st.history)))
        c.print(t if rows else "no activation yet")
    e.out.emit(rows, render)


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
