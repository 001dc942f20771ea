"""Adapters: everything of ecps-workflow that touches the outside world."""
