"""`ecps login start|pending|approve|deny|poll`: the login by push notification, step by step."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from adapters.cli.context import Database, Json, StateDirOpt, env
from adapters.cli.flow import ActivationId, PinArg, ask_secret
from adapters.cli.output import Output, when
from workflow.login.results import LoginResult

LoginId = Annotated[str, typer.Argument(metavar="LOGIN_ID", show_default=False,
                                        help="The login id `ecps login start` printed.")]
login_app = typer.Typer(name="login", no_args_is_help=True,
                        help="Log in by push notification: a portal asks, the phone approves.")


@login_app.command("start")
def start(
    national_id: Annotated[str, typer.Argument(metavar="NATIONAL_ID", show_default=False)],
    client_id: Annotated[str, typer.Option(help="The portal's client id (the assertion's audience).")]
    = "portail-demo",
    client_name: Annotated[str, typer.Option(help="The portal's name shown on the phone.")]
    = "Portail de démonstration",
    binding_message: Annotated[str, typer.Option(help="The short code shown on both screens.")]
    = "A7-3F",
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """A portal asks to log the professional in (then `ecps dispatch` sends the push).

    Example: [bold]ecps login start 899700366240 --binding-message A7-3F[/]
    """
    e = env(database, state_dir, json)
    started = e.service().start_login(national_id, client_id=client_id, client_name=client_name,
                                      binding_message=binding_message)

    def render(c: Console) -> None:
        c.print(Text.assemble("login ", (started.login_id, "bold"), " is ", (str(started.state),
                              "bold green"), f", valid until {when(started.expires_at)}"))
        e.out.note("next: `ecps dispatch` sends the push; `ecps login pending ACTIVATION_ID`")
    e.out.emit(started, render)


@login_app.command("pending")
def pending(activation_id: ActivationId, database: Database = None, state_dir: StateDirOpt = None,
            json: Json = False) -> None:
    """The logins waiting for an answer on this e-CPS (what the app shows)."""
    e = env(database, state_dir, json, read_only=True)
    waiting = e.service().pending_logins(activation_id)

    def render(c: Console) -> None:
        for p in waiting:
            c.print(Text.assemble((p.login_id, "bold"), f"  {p.client_name}  ",
                                  (p.binding_message, "bold cyan"), f"  until {when(p.expires_at)}"))
        if not waiting:
            c.print("no login waiting")
    e.out.emit({"pending": list(waiting)}, render)


@login_app.command("approve")
def approve(login_id: LoginId, pin: PinArg = None, database: Database = None,
            state_dir: StateDirOpt = None, json: Json = False) -> None:
    """Approve a login with the PIN (a wrong one counts toward locking the e-CPS)."""
    e = env(database, state_dir, json)
    svc = e.service()
    _emit(e.out, svc.approve_login(login_id, pin if pin is not None else ask_secret("PIN")))


@login_app.command("deny")
def deny(login_id: LoginId, database: Database = None, state_dir: StateDirOpt = None,
         json: Json = False) -> None:
    """Refuse a login."""
    e = env(database, state_dir, json)
    _emit(e.out, e.service().deny_login(login_id))


@login_app.command("poll")
def poll(login_id: LoginId, database: Database = None, state_dir: StateDirOpt = None,
         json: Json = False) -> None:
    """The portal polls: the state, and the signed assertion the first time it is approved."""
    e = env(database, state_dir, json)
    _emit(e.out, e.service().login_result(login_id))


def _emit(out: Output, result: LoginResult) -> None:
    def render(c: Console) -> None:
        c.print(Text.assemble("login ", (result.login_id, "bold"), " is ",
                              (str(result.state), "bold green")))
        if result.assertion:
            c.print(result.assertion, soft_wrap=True)
    out.emit(result, render)


def register(app: typer.Typer) -> None:
    """Add the `login` commands to `app`."""
    app.add_typer(login_app, rich_help_panel="Login by push")
