"""The always-loaded pytest entry point of ecps-workflow: it does nothing unless the project opts in.

It is a top-level module of its own, named after the distribution: pytest imports it in every session
of the environment, where a project's own `adapters` or `workflow` package (on `sys.path` first under
`python -m pytest`) would hide a module of ours of that name and stop pytest from starting.

Opting in is `ecps_workflow = true` in the project's ini file (or `-p workflow.pytest_plugin`, or
`pytest_plugins = ["workflow.pytest_plugin"]` in a conftest); only then is `workflow.pytest_plugin`
imported. This module imports nothing, so a session that does not opt in pays nothing for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

PLUGIN = "workflow.pytest_plugin"
INI = "ecps_workflow"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the opt-in ini option (only the declaration: nothing else changes)."""
    parser.addini(INI, type="bool", default=False,
                  help=f"load {PLUGIN} (the ecps-workflow test kit's plugin) in this project")


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Load the full plugin when the project's ini file opted in."""
    if early_config.getini(INI):
        early_config.pluginmanager.import_plugin(PLUGIN)
