"""Benchmarks: how fast callcredit charges calls, side by side with the
database engine's own limit measured in the same run (``python -m bench``)."""
