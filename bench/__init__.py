"""Benchmarks: scripts run by `make bench` and `make bench-workspaces`, not tests."""
