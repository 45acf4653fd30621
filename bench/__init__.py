"""Benchmarks that print tables: check-in throughput, broadcast pace, headcount at scale, memory.

Run them with `python -m bench [checkin|broadcast|headcount|memory|all] [--quick] [--json]`
(`make bench` runs them all). They are measurements, not tests: the test suite only runs each
one's `--quick` size to prove it still works.
"""
