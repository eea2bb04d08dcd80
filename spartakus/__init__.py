"""The ``spartakus`` command: one console script for every role."""
