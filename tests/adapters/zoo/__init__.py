"""Deliberately broken adapters; `tests/adapters/test_zoo.py` proves the kit catches each one."""
