"""Process plumbing every ``spartakus`` command shares: settings built once at the CLI, JSON log lines, and the
turns processes take on the DuckDB store file (``runtime.storelock``).

It imports no component and no broker, Kubernetes or warehouse client.
"""
