"""An app factory that fails as `ecps serve`'s worker does when it cannot build its app."""

from __future__ import annotations

import sys

from adapters.cli.serving import STARTUP_FAILURE


def factory() -> object:
    sys.exit(STARTUP_FAILURE)
