"""A stand-in for ``spartakus ingest``, ``writer`` or ``dashboard`` in supervisor tests (a script, not collected).

It answers 200 on the readiness path the supervisor polls (``/readyz`` for ingest on ``--port``, ``/metrics`` for a
writer on ``--metrics-port``, ``/healthz`` for the dashboard on ``--port``), records how it was started, and how it
was stopped, in ``$STANDIN_DIR``.

``STANDIN_MODE`` (optionally only for the role named in ``STANDIN_ROLE``):
  normal            exit 0 on SIGTERM
  ignore-term       ignore SIGTERM (the supervisor must kill it)
  default-term      die by SIGTERM, as a process that re-raises it after its shutdown does
  exit-early        exit 3 at once, before it is ready
  crash-after-ready exit 4 right after its first 200
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _flag(args: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in args if a.startswith(f"--{name}="))


def main() -> int:
    role, args = sys.argv[1], sys.argv[2:]
    port = int(_flag(args, "metrics-port" if role == "writer" else "port"))
    record = Path(os.environ["STANDIN_DIR"]) / f"{role}-{port}"
    mode = os.environ.get("STANDIN_MODE", "normal")
    if os.environ.get("STANDIN_ROLE", role) != role:
        mode = "normal"
    started = {
        "argv": sys.argv[1:],
        "amqp_url": os.environ.get("SPARTAKUS_AMQP_URL"),
        "own_group": os.getpgid(0) == os.getpid(),
    }
    record.with_suffix(".started").write_text(json.dumps(started))
    if mode == "exit-early":
        return 3
    served = threading.Event()
    stopped = threading.Event()
    path = {"ingest": "/readyz", "dashboard": "/healthz"}.get(role, "/metrics")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == path else 404)
            self.end_headers()
            self.wfile.flush()
            served.set()

        def log_message(self, *_: Any) -> None:
            return

    # Handlers first: once it answers 200, a SIGTERM must find them in place.
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif mode != "default-term":
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if mode == "crash-after-ready":
        served.wait()
        return 4
    while not stopped.wait(1):
        pass
    record.with_suffix(".stopped").write_text("SIGTERM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
