"""`Settings` from a TOML file and `ECPS_...` environment variables, with every problem named.

    settings = config.load("ecps.toml")   # the file, then ECPS_* variables override it
    for name, value in config.describe(settings): print(name, value)   # secret redacted
"""

from __future__ import annotations

import difflib
import errno
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from workflow.settings import InvalidSettings, Settings

__all__ = ["CONFIG_ENV", "ENV_PREFIX", "ConfigError", "describe", "format_duration",
           "from_env", "from_toml", "load", "parse_duration", "typed"]

ENV_PREFIX = "ECPS_"
CONFIG_ENV = "ECPS_CONFIG"
SECRET_FIELDS = frozenset({"secret_key"})
_FIELDS: dict[str, str] = {f.name: str(f.type) for f in fields(Settings)}
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """The configuration is invalid; `problems` lists every problem, each naming its source."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))
        self.problems = tuple(problems)


def parse_duration(value: object) -> timedelta:
    """`90`, `"90s"`, `"5m"`, `"1h30m"`, `"1d"` as a duration (bare numbers are seconds)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration, got a boolean")
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, int):
            return timedelta(seconds=value)
        text = str(value).strip().lower().replace(" ", "")
        if text.isdigit():
            return timedelta(seconds=int(text))
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            raise ValueError(f"expected a duration like 90s, 5m, 1h30m or 1d, got {value!r}")
        days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:  # more than timedelta holds (999,999,999 days)
        raise ValueError("the duration is far too long") from None


def format_duration(delta: timedelta) -> str:
    """A duration in the largest whole unit (`"5m"`, `"24h"`), as `parse_duration` reads it."""
    total = int(delta.total_seconds())
    if total != delta.total_seconds():
        return f"{delta.total_seconds()}s"
    for unit, size in _UNITS.items():
        if total and total % size == 0:
            return f"{total // size}{unit}"
    return "0s"


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `ECPS_<FIELD>` variables (e.g. `ECPS_SECRET_KEY`, `ECPS_PIN_LENGTH`)."""
    return _build({}, _env_values(os.environ if environ is None else environ))


def from_toml(path: str | os.PathLike[str], *, table: str = "") -> Settings:
    """Settings from a TOML file: its top-level keys, or those of `table` (e.g. `"tool.ecps"`)."""
    return _build(_toml_values(Path(path), table), {})


def load(path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None,
         table: str = "", overrides: Mapping[str, object] | None = None) -> Settings:
    """The effective settings: TOML file (`path`, else `$ECPS_CONFIG`), then `ECPS_*`, then `overrides`."""
    env = os.environ if environ is None else environ
    where = path if path is not None else env.get(CONFIG_ENV) or None
    file_values = _toml_values(Path(where), table) if where is not None else {}
    env_values = _env_values(env)
    extra = {name: (value, f"overrides: {name}") for name, value in (overrides or {}).items()}
    if "secret_key" in extra:  # an explicit key wins over every other source of it
        for values in (file_values, env_values):
            values.pop("secret_key", None)
            values.pop("secret_key_file", None)
    return _build(file_values, {**env_values, **extra})


def describe(settings: Settings) -> list[tuple[str, str]]:
    """Every setting as (name, printable value), in declaration order, secrets redacted."""
    rows: list[tuple[str, str]] = []
    for name in _FIELDS:
        value = getattr(settings, name)
        if name in SECRET_FIELDS:
            rows.append((name, f"<redacted, {len(settings.key)} bytes>"))
        elif isinstance(value, timedelta):
            rows.append((name, format_duration(value)))
        elif isinstance(value, bool):
            rows.append((name, "true" if value else "false"))
        else:
            rows.append((name, str(value)))
    return rows


def typed(settings: Settings) -> dict[str, object]:
    """Every setting as JSON data: numbers, booleans, text, durations in seconds; secrets redacted."""
    values: dict[str, object] = {}
    for name in _FIELDS:
        value = getattr(settings, name)
        if name in SECRET_FIELDS:
            values[name] = f"<redacted, {len(settings.key)} bytes>"
        elif isinstance(value, timedelta):
            seconds = value.total_seconds()
            values[name] = int(seconds) if seconds.is_integer() else seconds
        else:
            values[name] = value
    return values


Sourced = dict[str, tuple[object, str]]


def _env_values(environ: Mapping[str, str]) -> Sourced:
    found: Sourced = {}
    for name in (*_FIELDS, "secret_key_file"):
        var = ENV_PREFIX + name.upper()
        if var in environ:
            found[name] = (environ[var], var)
    return found


MAX_FILE = 1 << 20  # a configuration or key file larger than this is not one (/dev/zero...)


def small_text(path: Path) -> str:
    """The UTF-8 text of a configuration or key file, read up to `MAX_FILE` bytes; `OSError`
    (EFBIG) past that, rather than reading an endless file for ever."""
    with path.open("rb") as f:
        data = f.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise OSError(errno.EFBIG, f"larger than {MAX_FILE // 1024} KiB: not a configuration or key file")
    return data.decode("utf-8")


def _toml_values(path: Path, table: str) -> Sourced:
    try:
        data: dict[str, Any] = tomllib.loads(small_text(path))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the file ({exc.strerror or type(exc).__name__})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    for part in filter(None, table.split(".")):
        inner = data.get(part, {})
        if not isinstance(inner, dict):
            raise ConfigError([f"{path}: [{table}] is not a table"])
        data = inner
    problems = []
    for key, value in data.items():
        if isinstance(value, dict):
            continue  # another component's table
        if key not in _FIELDS and key != "secret_key_file":
            close = difflib.get_close_matches(key, [*_FIELDS, "secret_key_file"], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{path}: unknown setting {key!r}{hint}")
    if problems:
        raise ConfigError(problems)
    prefix = f"{path} [{table}]" if table else str(path)
    return {k: (v, f"{prefix}: {k}") for k, v in data.items() if not isinstance(v, dict)}


def _build(file_values: Sourced, env_values: Sourced) -> Settings:
    merged = {**file_values, **env_values}
    problems: list[str] = []
    values: dict[str, object] = {}
    key_file = merged.pop("secret_key_file", None)
    if key_file is not None and "secret_key" in merged:
        problems.append(f"{merged['secret_key'][1]} and {key_file[1]} both give the secret key; keep one")
    elif key_file is not None:
        try:
            values["secret_key"] = small_text(Path(str(key_file[0]))).strip()
        except OSError as exc:
            problems.append(f"{key_file[1]}: cannot read the key file ({exc.strerror or type(exc).__name__})")
        except UnicodeDecodeError:
            problems.append(f"{key_file[1]}: the key file is not UTF-8 text")
    for name, (raw, source) in merged.items():
        if name not in _FIELDS:
            problems.append(f"{source}: unknown setting {name!r}")
            continue
        try:
            values[name] = _convert(name, raw)
        except ValueError as exc:
            shown = "<redacted>" if name in SECRET_FIELDS else repr(raw)
            problems.append(f"{source}={shown}: {exc}")
    if "secret_key" not in values and not problems:
        problems.append("the secret key is missing: set ECPS_SECRET_KEY or ECPS_SECRET_KEY_FILE "
                        "(or secret_key / secret_key_file in the TOML file)")
    if problems:
        raise ConfigError(problems)
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except InvalidSettings as exc:
        raise ConfigError([_sourced(text, merged) for text in exc.problems]) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError([_sourced(str(exc).removeprefix("invalid Settings: "), merged)]) from None


def _sourced(text: str, merged: Sourced) -> str:
    """A problem of the Settings, prefixed with the variable or file that gave the setting."""
    name = next((n for n in merged if text.startswith(n)), "")
    return f"{merged[name][1]}: {text}" if name else text


def _convert(name: str, raw: object) -> object:
    kind = _FIELDS[name]
    if name in SECRET_FIELDS:
        if not isinstance(raw, (str, bytes)) or not raw:
            raise ValueError("expected the key as non-empty text")
        return raw
    if kind == "timedelta":
        return parse_duration(raw)
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE and not isinstance(raw, int):
            return text in _TRUE
        raise ValueError("expected true or false")
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise ValueError("expected an integer")
        try:
            return int(raw)
        except ValueError:
            raise ValueError("expected an integer") from None
    if not isinstance(raw, str):
        raise ValueError("expected text")
    return raw
