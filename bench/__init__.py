"""Benchmarks: the gateway measured side by side with a bare proxy (``scripts/bench``)."""
