"""Every `ecps` command meets a broken environment with one line on stderr and its exit code.

The environments: a database at a path that does not exist, a read-only state folder, a
PostgreSQL server that is not running (a closed port) and a URL that names no database.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.cli import main
from tests.e2e.conftest import cli_env

NID = "899700366240"
AID = "abcdefgh12345678"
PAYLOAD = f"ecps://activation?a={AID}&t={'t' * 43}"
STOPPED_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/test"

# every command that reaches the database, with arguments it accepts
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("request", NID), ("dispatch",), ("scan", PAYLOAD), ("resend-email", AID),
    ("resend-sms", AID), ("verify-sms", AID, "123456"), ("verify-sms", AID),
    ("set-pin", AID, "4821"), ("confirm-pin", AID, "4821"), ("authenticate", AID, "4821"),
    ("cancel", AID), ("revoke", AID), ("expire",), ("status", AID), ("list",),
    ("audit", "verify"), ("audit", "checkpoint"), ("diagram", "--activation", AID, "--out", "out"),
    ("demo",),
)


def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`ecps ARGS...` in this process: its exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` made read-only for this process (mode 0555, or immutable when running as root)."""
    folder.chmod(0o555)
    immutable = False
    try:
        if _writable(folder):  # root ignores the mode: ask the file system instead
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True,
                                       check=False).returncode == 0
            if not immutable or _writable(folder):
                pytest.skip("cannot make a folder read-only here")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


def _writable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.fixture(scope="module")
def made_elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state folder with its key, database and one activation, made once by another process."""
    folder = tmp_path_factory.mktemp("in-use") / "state"
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "request", NID, "--state-dir",
                           str(folder)], env=cli_env(), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return folder


def in_use(folder: Path, made: Path) -> None:
    """`folder`: a copy of its own of the state folder `made` by another process."""
    shutil.copytree(made, folder)


def broken(condition: str, workdir: Path) -> tuple[list[str], int]:
    """The options that put `ecps` in the broken environment, and the exit code expected."""
    if condition == "missing path":
        return ["--database", f"sqlite:///{workdir}/no/such/folder/ecps.sqlite3"], 17
    if condition == "stopped postgres":
        return ["--database", STOPPED_POSTGRES], 17
    if condition == "malformed url":
        return ["--database", "foo://bar"], 2
    return ["--state-dir", str(workdir / "ro")], 17


CONDITIONS = ("missing path", "read-only folder", "stopped postgres", "malformed url")


@pytest.mark.parametrize("condition", CONDITIONS)
def test_every_command_reports_a_broken_environment_in_one_line(
        condition: str, workdir: Path, made_elsewhere: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Each command prints one `error:` line naming the kind, and exits with the kind's code."""
    options, code = broken(condition, workdir)
    in_use(workdir / "ro", made_elsewhere)
    in_use(workdir / ".ecps", made_elsewhere)  # the server key the read-only commands need is there
    wrong: list[str] = []
    with read_only(workdir / "ro") if condition == "read-only folder" else contextlib.nullcontext():
        for command in COMMANDS:
            for json_mode in (False, True):
                args = [*command, *options, *(["--json"] if json_mode else [])]
                got, out, err = run(*args, capsys=capsys)
                lines = (out if json_mode else err).strip().splitlines()
                if json_mode:
                    ok = got == code and len(lines) == 1 and \
                        json.loads(lines[0])["error"]["exit_code"] == code
                else:
                    ok = got == code and len(lines) == 1 and lines[0].startswith("error: ") \
                        and f"exit {code}]" in lines[0]
                if not ok:
                    wrong.append(f"ecps {' '.join(args)} -> exit {got}\n{out}{err}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_serve_reports_a_broken_environment_in_one_line(condition: str, workdir: Path,
                                                        made_elsewhere: Path) -> None:
    """`ecps serve` checks its database before listening, and fails in one line when it cannot."""
    options, code = broken(condition, workdir)
    in_use(workdir / "ro", made_elsewhere)
    with read_only(workdir / "ro") if condition == "read-only folder" else contextlib.nullcontext():
        done = subprocess.run([sys.executable, "-m", "adapters.cli", "serve", "--port", "0", *options],
                              cwd=workdir, env=cli_env(), capture_output=True, text=True,
                              timeout=60, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1
    assert lines[0].startswith("error: ")


def test_a_refused_request_with_the_store_down_is_reported_as_the_store_down(
        workdir: Path, made_elsewhere: Path) -> None:
    """A request the store cannot audit says the database failed, once, without a traceback."""
    in_use(workdir / ".ecps", made_elsewhere)
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "request", NID, "--database",
                           STOPPED_POSTGRES], cwd=workdir, env=cli_env(), capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 17
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert "[storage_error, exit 17]" in done.stderr


def test_without_the_cli_extra_ecps_says_which_extra_to_install(tmp_path: Path) -> None:
    """With typer missing, `ecps` prints one line naming the [cli] extra instead of a traceback."""
    blocker = tmp_path / "typer.py"
    blocker.write_text("raise ModuleNotFoundError('No module named typer', name='typer')\n")
    env = cli_env()
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{env['PYTHONPATH']}"
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "--help"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "[cli]" in done.stderr


def test_a_postgresql_url_without_the_postgres_extra_names_the_extra(tmp_path: Path) -> None:
    """With psycopg missing, a PostgreSQL URL gets one line naming the [postgres] extra."""
    (tmp_path / "psycopg.py").write_text("raise ModuleNotFoundError('No module named psycopg', "
                                         "name='psycopg')\n")
    (tmp_path / "sitecustomize.py").write_text(
        "import importlib.util, sys\n"
        "_find = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'psycopg' else _find(name, *a)\n")
    env = cli_env()
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{env['PYTHONPATH']}"
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "list", "--database", STOPPED_POSTGRES],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: psycopg is not installed: pip install 'ecps-workflow[postgres]' (in a checkout: "
        "pip install '.[postgres]') [failed, exit 1]"]
