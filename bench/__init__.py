"""Benchmarks: each prints JSON lines and never asserts a time."""
