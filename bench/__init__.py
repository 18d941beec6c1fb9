"""Benchmarks that print figures (never pass/fail on time): run them against the lab or any
inventory host. Each module is runnable with `python -m bench.<name> --help`."""
