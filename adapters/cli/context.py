"""The options every command shares (`--database`, `--state-dir`, `--json`) and the service."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from adapters.bootstrap import StateDir, resolve_database_url, resolve_state_dir
from adapters.cli.output import Output
from workflow import ActivationService

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
    _service: ActivationService | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The database URL in use."""
        return resolve_database_url(self.database, self.state)

    def service(self) -> ActivationService:
        """The service on the real adapters of this environment."""
        if self._service is None:
            from adapters.bootstrap import build_service
            from adapters.files import FileSms

            # the embedded SMS gateway also shows each SMS here, a stand-in phone (not with --json)
            phone = None if os.environ.get("ECPS_SMS_URL") else FileSms(
                self.state.sms, echo=not self.out.json_mode)
            self._service = build_service(self.database, state_dir=self.state.root, sms=phone)
        return self._service


@dataclass(slots=True)
class Current:
    """The output of the running command, used by `main` to report its error."""

    out: Output = field(default_factory=Output)


CURRENT = Current()


def env(database: str | None = None, state_dir: Path | None = None, json: bool = False) -> Env:
    """The environment of a command from its options (and the root command's)."""
    out = Output(json_mode=json or ROOT.json)
    CURRENT.out = out
    state = resolve_state_dir(state_dir or ROOT.state_dir)
    return Env(database or ROOT.database, state, out)
