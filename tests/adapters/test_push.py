"""The push contract over the memory and file gateways."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from adapters.memory import MemoryPush
from adapters.push import FilePush
from workflow.messages import Push
from workflow.ports import PushGateway
from workflow.testing import PushContract


class TestMemoryPush(PushContract):
    """`MemoryPush` records what it accepts."""

    def make_gateway(self) -> PushGateway:
        return MemoryPush()

    def delivered(self, gateway: PushGateway) -> Sequence[Push]:
        assert isinstance(gateway, MemoryPush)
        return gateway.sent


class TestFilePush(PushContract):
    """`FilePush` writes one FCM-shaped JSON file per push."""

    @pytest.fixture(autouse=True)
    def _folder(self, tmp_path: Path) -> None:
        self.folder = tmp_path

    def make_gateway(self) -> PushGateway:
        return FilePush(self.folder / "push")

    def delivered(self, gateway: PushGateway) -> Sequence[Push]:
        assert isinstance(gateway, FilePush)
        return gateway.sent

    def make_unreachable_gateway(self) -> PushGateway | None:
        blocker = self.folder / "not-a-folder"
        blocker.write_text("a file where the folder should be")
        return FilePush(blocker)
