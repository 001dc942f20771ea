"""`ecps`: the command line of the e-CPS activation engine (typer + rich, the `[cli]` extra).

`main()` is the console script; the commands live in `adapters.cli.app`. Without the extra,
`ecps` says in one line which one to install.
"""

from __future__ import annotations

import sys

CLI_PACKAGES = frozenset({"typer", "click", "rich", "shellingham"})


def pressed_ctrl_c(exc: BaseException) -> bool:
    """Whether `exc` is Ctrl-C, or an error it caused: one pressed while a class was being
    made comes out as the `RuntimeError` of a `__set_name__` call, caused by it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def main(argv: list[str] | None = None) -> None:
    """Run `ecps`; exit with the code of the error kind when a command fails."""
    try:
        from adapters.cli.app import run
    except KeyboardInterrupt:  # Ctrl-C while the command loads: no traceback
        sys.exit(130)
    except Exception as exc:
        if pressed_ctrl_c(exc):
            sys.exit(130)
        if not isinstance(exc, ModuleNotFoundError) or (
                (exc.name or "").split(".")[0] not in CLI_PACKAGES):
            raise
        sys.stderr.write(f"error: the ecps command needs the [cli] extra ({exc.name} is not installed): "
                         "pip install 'ecps-workflow[cli]', or pip install '.[cli]' in a checkout "
                         "[failed, exit 1]\n")
        sys.exit(1)
    run(argv)
