"""Helpers the tests and benchmarks share: real services, free ports, waiting on conditions."""
