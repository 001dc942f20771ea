"""The whole-activation HTTP benchmark runs end to end (SQLite only, tiny sizes)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_http_flow_activates_over_one_and_two_worker_processes() -> None:
    """Both variants complete activations without a failure; PostgreSQL is reported as skipped."""
    from benchmarks import http_flow

    result = http_flow.run(quick=True, pg_url="postgresql://nobody@127.0.0.1:1/none", seconds=1,
                           threads=2)
    assert [f.name for f in result.figures] == ["sqlite: ecps serve", "sqlite: ecps serve --workers 2"]
    for figure in result.figures:
        assert figure.value > 0
        assert figure.note.endswith("failures 0")
    assert any("PostgreSQL skipped" in n for n in result.notes)
