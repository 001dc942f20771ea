"""Benchmarks of the engine against its baselines; run one with `python -m benchmarks.<name>`.

Each module has `run(quick=False, ...) -> adapters.bench.Result`; `ecps bench` runs them all.
"""
