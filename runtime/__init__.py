"""Process plumbing every ``spartakus`` command shares: settings built once at the CLI, and JSON log lines.

It imports no component and no broker, Kubernetes or warehouse client.
"""
