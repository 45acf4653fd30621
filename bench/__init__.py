"""Benchmarks that print tables: check-in throughput against reference bots, broadcast pace,
headcount at scale, growth with the database, SQLite durability, memory, open-loop latency.

Run them with `python -m bench [checkin|memory|broadcast|headcount|growth|durability|all]
[--quick] [--json] [--db sqlite|postgresql|both]`, and the open-loop latency driver with
`python -m bench latency` (minutes per database; not part of `all`). They are measurements, not
tests: the test suite only runs each one's `--quick` size to prove it still works.
"""
