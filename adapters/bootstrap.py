"""The composition root: `build_service()` wires the real adapters into an `ActivationService`.

Defaults need no setup: a state folder (`./.ecps/`) holds the SQLite database, the server
key (made once, mode 0600), the e-mails (`.eml` + QR PNG) and the SMS file; the directory is
the shipped file of fictional professionals. The environment overrides: `ECPS_DATABASE_URL`,
`ECPS_STATE_DIR`, `ECPS_SMTP_URL`, `ECPS_SMS_URL` (+ `ECPS_SMS_TOKEN`), `ECPS_DIRECTORY` (a
file, or the FHIR API's URL + `ECPS_DIRECTORY_API_KEY`), `ECPS_WEBHOOK_URL` (+
`ECPS_WEBHOOK_SECRET` or `ECPS_WEBHOOK_SECRET_FILE`: the event feed), and every setting through
`workflow.config` (`ECPS_SECRET_KEY(_FILE)`, `ECPS_<SETTING>`, a TOML file in `ECPS_CONFIG`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from workflow import ActivationService, Settings, config
from workflow.errors import StorageError, WrongServerKey
from workflow.listeners import Listener
from workflow.ports import Clock, Directory, EventSink, Mailer, PushGateway, SmsGateway
from workflow.templates import Templates

T = TypeVar("T")
DEFAULT_STATE_DIR = Path(".ecps")
SHIPPED_DIRECTORY = Path(__file__).resolve().parent / "data" / "directory.json"
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class StateDir:
    """Where the embedded defaults keep their files."""

    root: Path

    @property
    def database(self) -> Path:
        """The SQLite database file."""
        return self.root / "ecps.sqlite3"

    @property
    def key(self) -> Path:
        """The server key file (mode 0600)."""
        return self.root / "server.key"

    @property
    def mail(self) -> Path:
        """The folder of sent e-mails (`<message id>.eml` and the QR PNG beside it)."""
        return self.root / "mail"

    @property
    def sms(self) -> Path:
        """The file every SMS is appended to."""
        return self.root / "sms.txt"

    @property
    def push(self) -> Path:
        """The folder of login push notifications (one JSON file each)."""
        return self.root / "push"

    @property
    def diagrams(self) -> Path:
        """The folder of generated diagrams."""
        return self.root / "diagrams"

    def create(self) -> StateDir:
        """Make the folder (owner-only when new) and return self."""
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StorageError(f"cannot create the state folder {self.root}: "
                               f"{exc.strerror or type(exc).__name__}") from exc
        return self


def resolve_state_dir(path: str | os.PathLike[str] | None = None,
              environ: Mapping[str, str] | None = None) -> StateDir:
    """The state folder: `path`, else `ECPS_STATE_DIR`, else `./.ecps/`."""
    env = os.environ if environ is None else environ
    chosen = path if path is not None else env.get("ECPS_STATE_DIR") or DEFAULT_STATE_DIR
    return StateDir(Path(chosen).expanduser().absolute())


def resolve_database_url(url: str | None = None, state: StateDir | None = None,
                 environ: Mapping[str, str] | None = None) -> str:
    """The database URL: `url`, else `ECPS_DATABASE_URL`, else the state folder's SQLite file."""
    env = os.environ if environ is None else environ
    chosen = url or env.get("ECPS_DATABASE_URL")
    if chosen:
        return chosen
    return f"sqlite:///{(state or resolve_state_dir(environ=env)).database}"


def server_key(state: StateDir) -> str:
    """The state folder's server key, generated once (mode 0600) when it does not exist."""
    state.create()
    try:
        return _read_key(state.key)
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=state.root, prefix=".key-")  # created with mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(KEY_BYTES) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, state.key)  # atomic: the first process to create it wins
    finally:
        os.unlink(tmp)
    return _read_key(state.key)


def _read_key(path: Path) -> str:
    try:
        key = config.small_text(path).strip()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StorageError(f"cannot read the server key {path}: "
                           f"{exc.strerror or type(exc).__name__}") from exc
    except UnicodeDecodeError:
        raise StorageError(f"the server key file {path} is not UTF-8 text") from None
    if len(key) < 16:
        raise StorageError(f"the server key file {path} is too short or empty")
    return key


def load_settings(state: StateDir, secret_key: str | bytes | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """`workflow.config.load()` (`$ECPS_CONFIG` file, `ECPS_*` variables) with the server key:
    `secret_key`, else the configured one, else the state folder's key file."""
    env = os.environ if environ is None else environ
    if secret_key is not None:
        return config.load(environ=env, overrides={"secret_key": secret_key})
    try:
        return config.load(environ=env)
    except config.ConfigError as exc:
        if not any("secret key is missing" in p for p in exc.problems):
            raise
    return config.load(environ=env, overrides={"secret_key": server_key(state)})


Security = Literal["none", "starttls", "tls"]
_SMTP_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}


def mailer_from_url(url: str) -> Mailer:
    """An `SmtpMailer` from `smtp://host[:port]` (a local relay, no login),
    `smtp+starttls://user:password@host[:587]` or `smtps://user:password@host[:465]`;
    `?sender=Name <address>` sets the From."""
    from adapters.smtp import SmtpMailer

    parts = urlsplit(url)
    if parts.scheme not in _SMTP_SCHEMES or not parts.hostname:
        raise ValueError("ECPS_SMTP_URL must look like smtp://host, smtp+starttls://user:pass@host "
                         "or smtps://user:pass@host")
    security, port = _SMTP_SCHEMES[parts.scheme]
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    senders = parse_qs(parts.query).get("sender")
    if senders:
        return SmtpMailer(parts.hostname, parts.port or port, security=security,
                          username=user, password=password, sender=senders[-1])
    return SmtpMailer(parts.hostname, parts.port or port, security=security,
                      username=user, password=password)


def _adapters_from_env(state: StateDir, env: Mapping[str, str]) -> tuple[Mailer, SmsGateway,
                                                                          Directory]:
    """The mailer, SMS gateway and directory the environment names, else the embedded ones."""
    from adapters.directory import FhirDirectory, FileDirectory
    from adapters.files import FileMailer, FileSms
    from adapters.sms_http import HttpSmsGateway

    mailer: Mailer = (_from_env("ECPS_SMTP_URL", lambda: mailer_from_url(env["ECPS_SMTP_URL"]))
                      if env.get("ECPS_SMTP_URL") else FileMailer(state.mail))
    sms: SmsGateway = FileSms(state.sms, echo=False)
    if env.get("ECPS_SMS_URL"):
        sms = _from_env("ECPS_SMS_URL", lambda: HttpSmsGateway(env["ECPS_SMS_URL"],
                                                               env.get("ECPS_SMS_TOKEN", "")))
    where = env.get("ECPS_DIRECTORY", "")
    directory: Directory = FileDirectory(Path(where) if where else SHIPPED_DIRECTORY)
    if remote_directory(env):
        directory = _from_env("ECPS_DIRECTORY", lambda: FhirDirectory(
            where, api_key=env.get("ECPS_DIRECTORY_API_KEY") or None))
    return mailer, sms, directory


def remote_directory(env: Mapping[str, str]) -> bool:
    """Whether `env` names a directory API (`ECPS_DIRECTORY` an http(s) URL), not a file."""
    return env.get("ECPS_DIRECTORY", "").startswith(("https://", "http://"))


def _from_env(variable: str, make: Callable[[], T]) -> T:
    """What `make` builds from `variable`; its `ValueError` as a `config.ConfigError` naming the
    variable (the message of the adapter, never the variable's value)."""
    try:
        return make()
    except config.ConfigError:
        raise
    except ValueError as exc:
        raise config.ConfigError([f"{variable}: {exc}"]) from None


WEBHOOK_URL = "ECPS_WEBHOOK_URL"
WEBHOOK_SECRET = "ECPS_WEBHOOK_SECRET"  # noqa: S105 (a variable name, not a secret)
WEBHOOK_SECRET_FILE = "ECPS_WEBHOOK_SECRET_FILE"  # noqa: S105 (a variable name)


def webhook_from_env(environ: Mapping[str, str] | None = None) -> EventSink | None:
    """The event feed's `WebhookSink` that `ECPS_WEBHOOK_URL` and its secret name, or None
    when no URL is set; `config.ConfigError` (naming the variable, never its value) if invalid."""
    from adapters.webhook import WebhookSink

    env = os.environ if environ is None else environ
    url = env.get(WEBHOOK_URL, "").strip()
    if not url:
        return None
    secret = env.get(WEBHOOK_SECRET, "")
    if not secret and (path := env.get(WEBHOOK_SECRET_FILE)):
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise config.ConfigError([f"cannot read {WEBHOOK_SECRET_FILE} "
                                      f"({exc.strerror or type(exc).__name__})"]) from None
        except UnicodeDecodeError:
            raise config.ConfigError([f"{WEBHOOK_SECRET_FILE}: the file is not UTF-8 text"]) from None
    if not secret:
        raise config.ConfigError([f"{WEBHOOK_URL} is set but neither {WEBHOOK_SECRET} nor "
                                  f"{WEBHOOK_SECRET_FILE}: the receiver checks each event's signature"])
    try:
        return WebhookSink(url, secret)
    except ValueError as exc:
        raise config.ConfigError([f"{WEBHOOK_URL} / {WEBHOOK_SECRET}: {exc}"]) from None


def build_service(
    database_url: str | None = None,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    secret_key: str | bytes | None = None,
    mailer: Mailer | None = None,
    sms: SmsGateway | None = None,
    directory: Directory | None = None,
    clock: Clock | None = None,
    settings: Settings | None = None,
    listeners: Iterable[Listener] = (),
    sink: EventSink | None = None,
    templates: Templates | None = None,
    push: PushGateway | None = None,
    pool_size: int = 5,
) -> ActivationService:
    """An `ActivationService` on real adapters; every argument overrides one default.

    Login pushes go to `push`, else to `ECPS_PUSH_URL` (FCM HTTP v1, `ECPS_PUSH_TOKEN`), else
    to files in the state folder's `push/`.

    `settings` given whole is used as it is (with `secret_key` if that is given too);
    otherwise `load_settings()`: the configuration file and `ECPS_*` variables.
    `listeners` and `templates` are passed to the service as they are; the event feed goes
    to `sink`, else to the webhook the environment configures (`webhook_from_env`), else nowhere;
    `pool_size` sizes the store's connections (`SqlStore`: up to three times as many in use).
    """
    from adapters.sql import SqlStore

    state = resolve_state_dir(state_dir)
    url = resolve_database_url(database_url, state)
    if url.startswith("sqlite:") or mailer is None or sms is None:
        state.create()
    if settings is None:
        settings = load_settings(state, secret_key)
    elif secret_key is not None:
        settings = replace(settings, secret_key=secret_key)
    env_mailer, env_sms, env_directory = _adapters_from_env(state, os.environ)
    return ActivationService(
        store=SqlStore(url, pool_size=pool_size),
        mailer=mailer if mailer is not None else env_mailer,
        sms=sms if sms is not None else env_sms,
        directory=directory if directory is not None else env_directory,
        clock=clock,
        settings=settings,
        listeners=listeners,
        sink=sink if sink is not None else webhook_from_env(),
        templates=templates,
        push=push if push is not None else _push_from_env(state, os.environ),
    )


def refuse_another_key(svc: ActivationService) -> None:
    """`WrongServerKey` when the database's newest activation was sealed with another key than
    the service's: call it before writing (a key that cannot read what is there must not add
    to it; the service's reads refuse such rows on their own)."""
    from workflow.verification import newest_sealed_elsewhere

    elsewhere = newest_sealed_elsewhere(svc.store, svc.keys)
    if elsewhere is not None:
        raise WrongServerKey.of(f"activation {elsewhere}")


def _push_from_env(state: StateDir, env: Mapping[str, str]) -> PushGateway:
    """The push gateway the environment names, else files in the state folder."""
    from adapters.push import FilePush, HttpPush

    if env.get("ECPS_PUSH_URL"):
        return _from_env("ECPS_PUSH_URL", lambda: HttpPush(env["ECPS_PUSH_URL"],
                                                           env.get("ECPS_PUSH_TOKEN", "")))
    return FilePush(state.push)
