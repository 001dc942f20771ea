"""The options every command shares (`--database`, `--state-dir`, `--json`) and the service."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from adapters.bootstrap import StateDir, resolve_database_url, resolve_state_dir
from adapters.cli.output import MissingExtra, Output
from workflow import ActivationService, Settings, config

PANEL = "Common options"
Database = Annotated[str | None, typer.Option(
    "--database", metavar="URL", rich_help_panel=PANEL, show_default=False,
    help="Database URL: sqlite:///path or postgresql+psycopg://user@host/db "
         "[env: ECPS_DATABASE_URL; default: the SQLite file in the state folder]")]
StateDirOpt = Annotated[Path | None, typer.Option(
    "--state-dir", metavar="DIR", rich_help_panel=PANEL, show_default=False,
    help="Folder of the SQLite file, server key, e-mails and SMS "
         "[env: ECPS_STATE_DIR; default: ./.ecps/]")]
Json = Annotated[bool, typer.Option("--json", rich_help_panel=PANEL,
                                    help="Print one JSON document (errors too) for scripts.")]


@dataclass(slots=True)
class Common:
    """The shared options, as given to the root command or to a command."""

    database: str | None = None
    state_dir: Path | None = None
    json: bool = False


ROOT = Common()  # set by the root callback; a command's own options win


@dataclass(slots=True)
class Env:
    """What a command runs with: where the state is, how to print, the service (built lazily)."""

    database: str | None
    state: StateDir
    out: Output
    read_only: bool = False
    _service: ActivationService | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The database URL in use (a usage error when it names no database this tool runs on)."""
        return checked_url(resolve_database_url(self.database, self.state))

    def service(self, pool_size: int = 5) -> ActivationService:
        """The service on the real adapters of this environment (its store keeps `pool_size`
        connections)."""
        if self._service is None:
            from adapters.bootstrap import build_service, refuse_another_key
            from adapters.files import FileSms

            url = self.url
            settings = self.existing_settings() if self.read_only else None
            # the embedded SMS gateway also shows each SMS here, a stand-in phone (not with --json)
            phone = None if os.environ.get("ECPS_SMS_URL") else FileSms(
                self.state.sms, echo=not self.out.json_mode)
            svc = build_service(url, state_dir=self.state.root, sms=phone, settings=settings,
                                pool_size=pool_size)
            if not self.read_only:  # a command that writes: not with another key than the data's
                try:
                    refuse_another_key(svc)
                except BaseException:
                    svc.close()
                    raise
            self._service = svc
        return self._service

    def existing_settings(self) -> Settings:
        """The settings with the server key configured or already in the state folder; never
        makes a key (a new key could not read what the old one sealed)."""
        from adapters.bootstrap import load_settings

        if self.state.key.is_file():
            return load_settings(self.state)
        try:
            return config.load()
        except config.ConfigError as exc:
            if not any("secret key is missing" in p for p in exc.problems):
                raise
        raise config.ConfigError([
            f"no server key in {self.state.key}: give the --state-dir that holds this "
            "database's key, or set ECPS_SECRET_KEY_FILE (nothing was created)"])


SCHEMES = ("sqlite", "postgresql")


def checked_url(url: str) -> str:
    """`url` when it names a database `ecps` runs on, else a usage error saying which ones do."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from adapters.sql.store import driver_url

    try:
        url.encode("utf-8")
    except UnicodeEncodeError:  # bytes of a file name that are not UTF-8: no URL holds them
        raise typer.BadParameter("the URL holds bytes that are not UTF-8 text",
                                 param_hint="'--database' / ECPS_DATABASE_URL") from None
    try:
        backend = make_url(url).get_backend_name()
        driver_url(url)  # the drivers the store runs on: pysqlite, psycopg 3
    except (ArgumentError, ValueError):
        backend = ""
    if backend not in SCHEMES:
        shown = url.split("://", 1)[0] + "://…" if "://" in url else "the value given"  # may hold a password
        raise typer.BadParameter(f"{shown} is not a database URL ecps runs on; give "
                                 "sqlite:///path or postgresql+psycopg://user@host/db",
                                 param_hint="'--database' / ECPS_DATABASE_URL")
    if backend == "postgresql" and importlib.util.find_spec("psycopg") is None:
        raise MissingExtra("psycopg is not installed: pip install 'ecps-workflow[postgres]' "
                           "(in a checkout: pip install '.[postgres]')")
    return url


@dataclass(slots=True)
class Current:
    """The output of the running command, used by `main` to report its error."""

    out: Output = field(default_factory=Output)
    started: bool = False


CURRENT = Current()


def env(database: str | None = None, state_dir: Path | None = None, json: bool = False, *,
        read_only: bool = False) -> Env:
    """The environment of a command from its options (and the root command's); a `read_only`
    command never makes a server key."""
    out = Output(json_mode=json or ROOT.json)
    CURRENT.out, CURRENT.started = out, True
    state = resolve_state_dir(state_dir or ROOT.state_dir)
    return Env(database or ROOT.database, state, out, read_only)
