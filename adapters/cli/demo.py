"""`ecps demo`: one whole activation on embedded defaults, the console playing the phone."""

from __future__ import annotations

import io
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.prompt import Confirm, Prompt
from rich.rule import Rule
from rich.text import Text

from adapters.bootstrap import StateDir, build_service, refuse_another_key, resolve_state_dir
from adapters.cli.context import Database, Json, StateDirOpt, checked_url, env
from adapters.cli.flow import ask_secret
from adapters.cli.output import Output
from adapters.cli.phone import payload_from_eml, sms_of
from workflow import ActivationService, security
from workflow.domain import MessageKind, Step
from workflow.errors import (
    ActivationLocked,
    InvalidInput,
    NotEligible,
    PinMismatch,
    TooManyRequests,
    VerificationFailed,
    WeakPin,
)

DEMO_ID = "899700366240"
DEMO_DATABASE = "demo.sqlite3"


@dataclass(slots=True)
class Demo:
    """One run of the demo: the service, where things go, and what it printed."""

    svc: ActivationService
    state: StateDir
    out: Output
    url: str
    interactive: bool
    shown: int = 0
    files: dict[str, str] = field(default_factory=dict)

    @property
    def console(self) -> Console:
        """Where the story is told."""
        return self.out.console

    def say(self, *parts: str | Text) -> None:
        """Print a line of the story (nothing with --json)."""
        if not self.out.json_mode:
            self.console.print(*parts)

    def chapter(self, number: int, title: str) -> None:
        """Start a step of the story."""
        if not self.out.json_mode:
            self.console.print()
            self.console.print(Text.assemble((f"{number}. ", "bold cyan"), (title, "bold")))

    def steps(self, aid: str) -> None:
        """Show the transitions taken since the last call, one line each."""
        history = self.svc.status(aid).history
        fresh = history[self.shown:]
        self.shown = len(history)
        for step in fresh:
            self.say(Text.assemble(
                ("   ↳ ", "cyan"), (f"{step.source or '(new)':>12}", ""), (" → ", "dim"),
                (f"{step.dest:<14}", "bold green"), (f"{step.event:<14}", "cyan"),
                (step.at.strftime("%H:%M:%S.") + f"{step.at.microsecond // 1000:03d}", "dim")))

    def path(self, p: Path) -> str:
        """`p` relative to the working directory when it is inside it."""
        try:
            return str(p.relative_to(Path.cwd()))
        except ValueError:
            return str(p)


def demo(
    interactive: Annotated[bool, typer.Option(
        "--interactive", "-i", help="Ask as the app does: identifier, confirmation, scan, PIN.")]
    = False,
    national_id: Annotated[str, typer.Option(
        "--national-id", help="The fictional professional to activate.")] = DEMO_ID,
    database: Database = None, state_dir: StateDirOpt = None, json: Json = False,
) -> None:
    """Run one whole activation on embedded defaults, playing the phone; no setup needed.

    The state folder keeps the server key, the e-mails (.eml + QR PNG) and the SMS file; the
    demo's SQLite file (demo.sqlite3) starts empty at each run, so it can run again and again.
    With --database (or ECPS_DATABASE_URL) it runs on that database as it is.

    Examples: [bold]ecps demo[/]   [bold]ecps demo --interactive[/]   [bold]ecps demo --json[/]
    """
    began = time.perf_counter()
    e = env(database, state_dir, json)
    state = e.state.create()
    url = e.database or os.environ.get("ECPS_DATABASE_URL")
    if url:
        checked_url(url)
    else:
        fresh = state.root / DEMO_DATABASE
        for leftover in state.root.glob(DEMO_DATABASE + "*"):
            leftover.unlink()
        url = f"sqlite:///{fresh}"
    from adapters.files import FileSms

    svc = build_service(url, state_dir=state.root, sms=FileSms(state.sms, echo=False))
    try:
        svc.store.list_activations(1)  # a database that cannot answer fails before the story
        refuse_another_key(svc)  # nor one sealed with another key than this folder's: it writes
    except BaseException:
        svc.close()
        raise
    d = Demo(svc, state, e.out, url, interactive)
    _intro(d)
    try:
        aid = _run(d, national_id)
    except TooManyRequests:
        e.out.note(f"this database already holds {svc.settings.max_requests} requests for this "
                   "identifier in 24 h (the rate limit): run the demo on its own database "
                   "(no --database, no ECPS_DATABASE_URL), or with a fresh --state-dir")
        raise
    _outro(d, aid, time.perf_counter() - began)


def _intro(d: Demo) -> None:
    if d.out.json_mode:
        return
    c = d.console
    c.print(Panel(Text.assemble(
        ("e-CPS activation", "bold"), " without a CPS card, end to end, on embedded defaults.\n",
        ("You play the professional: type the identifier, scan, enter the PINs."
         if d.interactive else "The console plays the professional's phone: it reads the "
         "e-mail's QR code and the SMS code, and types the PIN.", "dim")),
        title="ecps demo", title_align="left", border_style="cyan", expand=False))
    key = d.state.key
    c.print(Text.assemble(("  state folder  ", "dim"), d.path(d.state.root),
                          ("  (server key ", "dim"), key.name, (" mode 0600)", "dim")))
    c.print(Text.assemble(("  database      ", "dim"), _short_url(d)))
    c.print(Text.assemble(("  directory     ", "dim"), "fictional professionals, shipped"))
    c.print(Text.assemble(("  clock         ", "dim"), "system time, ",
                          d.svc.now().strftime("%Y-%m-%d"), " UTC"))


def _short_url(d: Demo) -> str:
    if d.url.startswith("sqlite:///"):
        return "SQLite " + d.path(Path(d.url.removeprefix("sqlite:///")))
    from adapters.cli.ops import _safe_url

    return _safe_url(d.url)


def _run(d: Demo, national_id: str) -> str:
    svc = d.svc
    d.chapter(1, "In the app, the professional types their identifiant national")
    nid = _ask_identifier(d, national_id)
    entry = svc.directory.lookup(nid)
    name = entry.name if entry and entry.name else "unnamed"
    from adapters.device import DeviceKey

    phone_key = DeviceKey.generate()  # the app's key: the activation is bound to this device
    started = svc.request(nid, device_id="demo-phone", device_key=phone_key.public_jwk)
    aid = started.activation_id
    d.files["activation_id"] = aid
    d.files["national_id"] = nid
    d.say(Text.assemble("   ", (nid, "bold"), f" · {name} (fictional)"))
    d.say(Text.assemble("   the app shows the contacts of record, masked: ",
                        (started.masked_email, "bold"), " · ", (started.masked_phone, "bold")))
    d.steps(aid)

    d.chapter(2, "The outbox sends the e-mail with the QR code")
    svc.dispatch()
    eml = _message_file(d, aid, MessageKind.ACTIVATION_EMAIL)
    d.files["email"] = str(eml)
    pngs = sorted(eml.parent.glob(eml.stem + "-*.png"))
    d.say(Text.assemble("   e-mail    ", (d.path(eml), "bold")))
    if pngs:
        d.say(Text.assemble("   QR image  ", d.path(pngs[0])))
    d.steps(aid)

    d.chapter(3, "The phone scans the QR code")
    payload = payload_from_eml(eml)
    if d.interactive:
        _interactive_scan(d, aid, payload)
    else:
        d.say(Text.assemble("   decoded from the e-mail's PNG (zxing-cpp), token hidden here:"))
        d.say(Text.assemble("   ", (_hide_token(payload), "bold")))
        svc.scan(aid, payload)
    d.steps(aid)

    d.chapter(4, "The SMS arrives; the app reads the code")
    svc.dispatch()
    sms = sms_of(svc, d.state.sms, aid)
    d.files["sms"] = str(d.state.sms)
    d.say(Text.assemble("   SMS to ", (started.masked_phone, "bold"), " (", d.path(d.state.sms),
                        ", the stand-in phone; logs never show codes):"))
    d.say(Text.assemble("   «", (sms.text, "italic"), "»"))
    _verify_code(d, aid, sms.code)
    d.steps(aid)

    d.chapter(5, f"The professional chooses a {svc.settings.pin_length}-digit PIN and confirms it")
    pin = _choose_pin(d, aid)
    d.steps(aid)

    d.chapter(6, "The e-CPS is active: they log in with the PIN (Pro Santé Connect)")
    _login(d, aid, pin)
    d.steps(aid)

    from adapters.cli.demo_login import push_login

    d.chapter(7, "A portal logs them in by push notification, approved with the PIN")
    push_login(d, aid, pin)
    d.steps(aid)
    return aid


def _ask_identifier(d: Demo, default: str) -> str:
    if not d.interactive:
        return default
    while True:
        nid = Prompt.ask("   identifiant national", default=default, console=d.console)
        try:
            checked = security.validate_identifier(nid, check_luhn=d.svc.settings.check_rpps_luhn)
            entry = d.svc.directory.lookup(checked)
            if entry is None:
                raise NotEligible("the directory does not know this identifier")
        except (InvalidInput, NotEligible) as exc:
            d.say(Text(f"   {exc}", style="red"))
            continue
        email = security.mask_email(security.clean_email(entry.email))
        phone = security.mask_phone(security.clean_phone(entry.phone))
        d.say(f"   the e-mail goes to {email} and the SMS to {phone}")
        if Confirm.ask("   are these your contacts? send the request", default=True,
                       console=d.console):
            return checked
        raise typer.Exit(0)


def _interactive_scan(d: Demo, aid: str, payload: str) -> None:
    """Draw the QR code, then scan what is pasted (Enter: the decoded one); a bad paste is told
    and asked again."""
    import qrcode

    qr = qrcode.QRCode(border=2)
    qr.add_data(payload)
    buffer = io.StringIO()
    qr.print_ascii(out=buffer, invert=True)
    d.console.print(Text(buffer.getvalue(), no_wrap=True, overflow="ignore"))

    def scan() -> None:
        typed = Prompt.ask("   scan it, then press Enter (or paste the link your camera read)",
                           default="", show_default=False, console=d.console).strip()
        d.say(Text.assemble("   scanned, token hidden here: ", (_hide_token(typed or payload), "bold")))
        d.svc.scan(aid, typed or payload)

    _until_accepted(d, scan)


def _verify_code(d: Demo, aid: str, code: str) -> None:
    def submit() -> None:
        typed = code
        if d.interactive:
            typed = Prompt.ask("   code received by SMS", default=code, console=d.console)
        d.say(Text.assemble("   the app submits the code ", (typed, "bold")))
        d.svc.verify_sms(aid, typed)

    _until_accepted(d, submit)


def _until_accepted(d: Demo, attempt: Callable[[], object]) -> None:
    """Run `attempt` until it passes; in interactive mode a wrong answer is told and asked again."""
    while True:
        try:
            attempt()
            return
        except ActivationLocked:
            raise
        except (VerificationFailed, InvalidInput) as exc:
            if not d.interactive:
                raise
            d.say(Text(f"   {exc}", style="red"))


def _choose_pin(d: Demo, aid: str) -> str:
    while True:
        if d.interactive:
            pin = ask_secret("   choose your PIN")
        else:
            pin = _random_pin(d.svc.settings.pin_length)
            d.say(Text.assemble("   PIN chosen at random: ", (pin, "bold"),
                                ("  (kept only as a salted argon2id hash)", "dim")))
        try:
            d.svc.set_pin(aid, pin)
        except (WeakPin, InvalidInput) as exc:
            d.say(Text(f"   {exc}", style="red"))
            continue
        again = ask_secret("   type it again") if d.interactive else pin
        try:
            d.svc.confirm_pin(aid, again)
            return pin
        except PinMismatch as exc:
            d.say(Text(f"   {exc}; choose the PIN again", style="red"))


def _login(d: Demo, aid: str, pin: str) -> None:
    _until_accepted(d, lambda: d.svc.authenticate(
        aid, ask_secret("   PIN to log in") if d.interactive else pin))
    d.say(Text("   authenticated", style="bold green"))


def _random_pin(length: int) -> str:
    while True:
        pin = "".join(secrets.choice("0123456789") for _ in range(length))
        try:
            security.check_pin_policy(pin)
            return pin
        except WeakPin:
            continue


def _message_file(d: Demo, aid: str, kind: MessageKind) -> Path:
    from adapters.files import latest_eml

    ids = [m.id for m in d.svc.store.outbox_of(aid) if m.kind == kind]
    if ids and (d.state.mail / f"{ids[-1]}.eml").is_file():
        return d.state.mail / f"{ids[-1]}.eml"
    found = latest_eml(d.state.mail)
    if found is None:
        raise InvalidInput(f"no e-mail was written to {d.state.mail}", "eml")
    return found


def _hide_token(payload: str) -> str:
    head, sep, token = payload.rpartition("&t=")
    return f"{head}{sep}{token[:4]}…" if sep else payload


def _outro(d: Demo, aid: str, seconds: float) -> None:
    from workflow.diagrams import dot_available, write_diagrams

    st = d.svc.status(aid)
    fmt = "svg" if dot_available() else "mermaid"
    written = write_diagrams(d.state.diagrams, [fmt], d.svc.workflow.definition, st.history,
                             current=st.state, stem="demo-activation", settings=d.svc.settings)
    diagram = written[0]
    d.files["diagram"] = str(diagram)
    hint_db = f" --database {_short_url(d).removeprefix('SQLite ')}"
    if d.url.startswith("sqlite:///"):
        hint_db = f" --database sqlite:///{d.path(Path(d.url.removeprefix('sqlite:///')))}"
    if d.state.root != resolve_state_dir(None, {}).root:  # the key is there, not in ./.ecps/
        hint_db += f" --state-dir {d.path(d.state.root)}"
    data = {"activation_id": aid, "state": st.state, "masked_email": st.masked_email,
            "masked_phone": st.masked_phone, "transitions": st.history, "files": d.files,
            "seconds": round(seconds, 3)}

    def render(c: Console) -> None:
        c.print()
        c.print(Rule(style="cyan"))
        c.print(Text.assemble(("✓ ", "bold green"), "e-CPS ", (st.state.upper(), "bold green"),
                              f": {len(st.history)} transitions in {seconds:.1f} s"))
        c.print(Text.assemble(("  path  ", "dim"), _main_path(st.history)))
        c.print(Text.assemble(("  diagram of this activation's path ", "dim"),
                              ("(SVG)" if fmt == "svg" else "(Mermaid; Graphviz gives SVG)", "dim"),
                              "\n  ", (d.path(diagram), "bold")))
        if fmt == "mermaid":
            c.print(Text(diagram.read_text(), style="dim"))
        c.print(Group(
            Text("  next:", style="dim"),
            Text(f"    ecps status{hint_db} {_positional(aid)}", style="dim"),
            Text(f"    ecps audit verify{hint_db}", style="dim"),
            *([] if d.interactive else [Text("    ecps demo --interactive", style="dim")]),
        ))
    d.out.emit(data, render)


def _positional(value: str) -> str:
    """`value` as a command-line argument (after `--` when it starts like an option)."""
    return f"-- {value}" if value.startswith("-") else value


def _main_path(history: tuple[Step, ...]) -> str:
    seen = [str(h.dest) for h in history]
    order = [s for i, s in enumerate(seen) if s not in seen[:i]]
    return " → ".join(order)


def register(app: typer.Typer) -> None:
    """Add `ecps demo` to `app`."""
    app.command("demo", rich_help_panel="Start here")(demo)

