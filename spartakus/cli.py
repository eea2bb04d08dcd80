"""Dispatch ``spartakus <command>`` to the component that owns the command.

Components are imported only when their command runs, so the volunteer's
image never loads the collector's clients.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Final

USAGE: Final = """usage: spartakus <command> [flags]

commands:
  volunteer   read the Kubernetes API and send usage reports
  ingest      HTTP gateway: validate reports and publish them to RabbitMQ
  writer      consume reports from RabbitMQ and write them to a store
  dlq         list or replay dead-lettered reports (dlq list|replay)
  queues      check the queues' arguments, or migrate them after an upgrade (queues check|migrate)
  reports     print the latest stored report of each cluster (DuckDB store)
  forget      delete every stored report of one cluster (forget --cluster-id ID)
  dashboard   serve the adoption dashboard from a store, read-only (or write it to one HTML file)

Run 'spartakus <command> --help' for the flags of a command.
Every flag also reads SPARTAKUS_<FLAG>, e.g. SPARTAKUS_AMQP_URL."""

COMMANDS: Final = {
    "volunteer": ("volunteer.cli", "main"),
    "ingest": ("ingest.cli", "main"),
    "writer": ("writer.cli", "main"),
    "dlq": ("writer.cli", "dlq_main"),
    "queues": ("writer.cli", "queues_main"),
    "reports": ("writer.reports", "main"),
    "forget": ("writer.forget", "main"),
    "dashboard": ("dashboard.cli", "main"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spartakus`` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"spartakus: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    module_name, function_name = COMMANDS[command]
    entry: Callable[[Sequence[str]], int] = getattr(importlib.import_module(module_name), function_name)
    return entry(rest)
