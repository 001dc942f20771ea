"""Every example of docs/embedding.md runs as shipped, and the page shows each one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


def test_the_guide_names_every_example_and_nothing_else() -> None:
    """docs/embedding.md points at each file of docs/examples/, and at no missing one."""
    guide = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8")
    named = set(re.findall(r"docs/examples/(\w+\.py)", guide))
    assert named == {p.name for p in EXAMPLES}
    assert len(EXAMPLES) >= 5


def test_the_guide_quotes_the_examples_verbatim() -> None:
    """Each ```python block of the guide is a verbatim excerpt of an example file."""
    guide = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8")
    sources = "\n".join(p.read_text(encoding="utf-8") for p in EXAMPLES)
    blocks = [b.split("```", 1)[0] for b in guide.split("```python\n")[1:]]
    assert blocks
    for block in blocks:
        assert block.strip() in sources, block[:200]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_example_runs(example: Path) -> None:
    """The example exits 0 (its own asserts check what it shows)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ECPS_SECRET_KEY", None)
    done = subprocess.run([sys.executable, str(example)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
