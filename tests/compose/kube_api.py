"""The Kubernetes API stand-in as a process of its own, for compose's ``kube-api`` service (profile ``test``).

It serves the stand-in's sample nodes on every address of the container until SIGTERM, which ``docker compose stop``
sends. The end-to-end suite computes what the volunteer's report must hold from the same ``sample_nodes()``.

Usage: python -m tests.compose.kube_api --port 6443
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from tests.support.k8s_api import KubeApiStandIn, sample_nodes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the Kubernetes API stand-in's sample nodes until SIGTERM.")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104  # a container's service, reached by name
    parser.add_argument("--port", type=int, default=6443)
    args = parser.parse_args(argv)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with KubeApiStandIn(sample_nodes(), host=args.host, port=args.port) as server:
        print(f"kube-api stand-in: {server.url}, {len(server.nodes)} nodes", flush=True)
        stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
