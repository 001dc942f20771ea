"""Smoke runs of every benchmark at tiny sizes, so the scripts cannot rot (no timing is asserted)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from adapters import bench
from adapters.bench import BenchmarksUnavailable, Result, Target

ROOT = Path(__file__).resolve().parents[2]


def _sane(result: Result, name: str, figures: set[str], targets: int) -> None:
    """The result names its benchmark, holds the expected figures, and every number is a number."""
    assert result.name == name
    assert not result.skipped
    assert figures <= {f.name for f in result.figures}
    assert len(result.targets) == targets
    numbers = [f.value for f in result.figures] + [t.measured for t in result.targets]
    assert all(math.isfinite(n) for n in numbers), numbers
    assert min(numbers, default=0) >= 0, numbers
    json.dumps(result.to_dict())
    assert name in result.table()


def test_engine_memory_measures_every_variant() -> None:
    """The in-memory benchmark measures the service and its four baselines, and the store's memory."""
    from benchmarks import engine_memory

    result = engine_memory.run(quick=True, flows=4, rounds=1, activations=20)
    _sane(result, "engine_memory", {"dict machine", "bare transitions trigger", "service event (mean)",
                                    "Machine per activation", "MemoryStore per activation, record"}, 5)
    assert result.value("service event (mean)") > 0
    assert result.value("one transitions.Machine per activation") > 0


def test_costs_are_measured_at_the_production_settings() -> None:
    """The costs benchmark times the default PIN hash, the QR e-mail and the model check."""
    from benchmarks import costs

    result = costs.run(quick=True)
    _sane(result, "costs", {"PIN hash (set_pin)", "activation e-mail with its QR",
                            "model check of the definition"}, 0)
    assert "65536 KiB" in next(f.note for f in result.figures if f.name == "PIN hash (set_pin)")


def test_sqlite_durable_compares_the_store_with_raw_and_naive(tmp_path: Path) -> None:
    """The SQLite benchmark reports the store, raw sqlite3 and the naive session, and their ratios."""
    from benchmarks import sqlite_durable

    result = sqlite_durable.run(quick=True, flows=2, rounds=1, folder=str(tmp_path))
    _sane(result, "sqlite_durable", {"SqlStore service", "raw sqlite3, same commits",
                                     "SQLModel session per step, one row",
                                     "service over a naive store (same rows)",
                                     "raw sqlite3 replaying SqlStore's statements"}, 2)
    assert result.value("SqlStore service") > 0
    assert not list(tmp_path.iterdir()), "the temporary databases are removed"


def test_scale_populates_and_measures_both_sizes(tmp_path: Path) -> None:
    """The scale benchmark fills both databases in the store's schema and measures each in a child."""
    from benchmarks import scale

    result = scale.run(quick=True, small=30, big=120, flows=2, rounds=1, folder=str(tmp_path),
                       cache=False)
    _sane(result, "scale", {"30 stored: event latency, mean", "120 stored: event latency, mean",
                            "120 stored: resident memory"}, 2)
    assert result.value("120 stored: resident memory") > 0


def test_scale_reuses_the_cached_database(tmp_path: Path) -> None:
    """A cached big database is reused as it is, and the measured activations are removed from it."""
    import sqlite3

    from benchmarks import scale

    path, seconds = scale.database(tmp_path, 40, cache=True)
    assert seconds > 0
    again, seconds = scale.database(tmp_path, 40, cache=True)
    assert (again, seconds) == (path, 0.0)
    scale.measure(path, flows=1, reads=3, stored=40, first_id=6_000_000)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM ecps_activation").fetchone() == (40,)
    db.close()


@pytest.mark.postgres
def test_postgres_workers_finds_no_lost_update(pg_admin_url: str) -> None:
    """The PostgreSQL benchmark runs worker processes and checks every contended login was kept."""
    from benchmarks import postgres_workers

    result = postgres_workers.run(quick=True, pg_url=pg_admin_url, flows=2, rounds=1, levels=(1, 2))
    _sane(result, "postgres_workers", {"1 worker(s): SqlStore service",
                                       "2 worker(s): raw psycopg, same commits",
                                       "lost updates (history)"}, 3)
    assert result.value("lost updates (history)") == 0
    assert result.value("lost updates (version)") == 0
    assert result.value("logins that succeeded") > 0


def test_postgres_workers_skips_an_unreachable_server() -> None:
    """An unreachable PostgreSQL gives a skipped result with the reason, not an error."""
    from benchmarks import postgres_workers

    result = postgres_workers.run(quick=True, pg_url="postgresql://nobody@127.0.0.1:1/none")
    assert result.skipped.startswith("PostgreSQL at")
    assert not result.met
    assert "skipped" in result.table()


def test_runner_runs_by_name_and_refuses_unknown_names() -> None:
    """`adapters.bench.run` runs the named benchmarks and names the known ones for a typo."""
    results = bench.run(["costs"], quick=True)
    assert [r.name for r in results] == ["costs"]
    with pytest.raises(ValueError, match="engine_memory"):
        bench.run(["engine_memroy"])
    assert bench.names() == list(bench.BENCHMARKS)


def test_runner_says_where_the_benchmarks_are_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a source checkout, the runner explains that the benchmarks come with the source tree."""
    def missing(name: str) -> object:
        raise ModuleNotFoundError(f"No module named {name!r}", name="benchmarks")

    monkeypatch.setattr("adapters.bench.importlib.import_module", missing)
    monkeypatch.setattr(bench, "_checkout", lambda: None)
    with pytest.raises(BenchmarksUnavailable, match="checkout"):
        bench.run(["costs"], quick=True)


def test_target_verdicts() -> None:
    """A target is met on the right side of its bound, inclusive, in either direction."""
    assert Target("t", 3.0, 3, at_most=True).met
    assert not Target("t", 3.1, 3, at_most=True).met
    assert Target("t", 10.0, 10, at_most=False).met
    assert not Target("t", 9.9, 10, at_most=False).met
    assert Target("t", 2, 3, at_most=True).goal == "<= 3.00x"


def test_a_benchmark_runs_as_a_module_and_prints_json() -> None:
    """`python -m benchmarks.<name> --quick --json` prints the machine and the result."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.costs", "--quick", "--json"],
                          cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    printed = json.loads(done.stdout)
    assert printed["result"]["name"] == "costs"
    assert {"nproc", "cpu", "python"} <= set(printed["machine"])
