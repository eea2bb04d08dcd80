"""The writer's AMQP commands; settings are built here, once, and passed down.

- ``spartakus writer`` (``main``): consume reports (``writer.service``) and write them to the sink ``--database``
  names (``writer.sink_factory``);
- ``spartakus dlq list|replay`` (``dlq_main``): the dead-lettered reports (``writer.dlq``);
- ``spartakus queues check|migrate`` (``queues_main``): the queues' arguments (``writer.queues``).

The writer's store commands have modules of their own: ``spartakus reports`` (``writer.reports``) and
``spartakus forget`` (``writer.forget``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from runtime.logs import configure_logging
from runtime.settings import ConfigError, exit_config_error, load_settings
from runtime.stores import parse_database
from writer import dlq, queues
from writer.amqp.connection import check_url
from writer.errors import BrokerError, SinkConfigError, WriterError
from writer.metrics import WriterMetrics
from writer.service import QueueWriter
from writer.settings import DlqSettings, QueuesSettings, WriterSettings
from writer.sink import Sink
from writer.sink_factory import open_sink

PROG = "spartakus writer"
DLQ_PROG = "spartakus dlq"
QUEUES_PROG = "spartakus queues"
EXIT_FAILURE = 1

log = logging.getLogger("writer")


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _open_store(settings: WriterSettings) -> tuple[Sink, WriterMetrics]:
    """The sink and the metrics server, or a one-line reason why not.

    Raises:
        SinkConfigError: the store cannot be opened, or the metrics port cannot be served.
    """
    sink = open_sink(
        parse_database(settings.database),  # checked by the settings already
        emulator_host=os.environ.get("BIGQUERY_EMULATOR_HOST"),
        retention=settings.retention,
        duckdb_memory_limit=settings.duckdb_memory_limit,
        bigquery_api=settings.bigquery_api,
        write_endpoint=settings.bigquery_write_endpoint,
    )
    metrics = WriterMetrics()
    if settings.metrics_port is not None:
        try:
            metrics.serve(settings.metrics_port)
        except OSError as e:
            sink.close()
            raise SinkConfigError(f"cannot serve metrics on port {settings.metrics_port}: {e}") from e
    return sink, metrics


def _run(writer: QueueWriter, stop: threading.Event) -> int:
    try:
        writer.run(stop)
    except BrokerError as e:
        if stop.is_set():
            # SIGTERM while RabbitMQ was unreachable: nothing was held, so this is a clean stop.
            log.info("stopped while RabbitMQ was unreachable", extra={"error": str(e)})
            return 0
        log.error("giving up on RabbitMQ", extra={"error": str(e)})  # noqa: TRY400  # the cause is in the message
        return EXIT_FAILURE
    except SinkConfigError as e:
        log.error("the store cannot be used as configured", extra={"error": str(e)})  # noqa: TRY400  # as above
        return EXIT_FAILURE
    log.info("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run a writer until SIGTERM or SIGINT; returns the process exit code."""
    try:
        settings = load_settings(WriterSettings, argv, checks={"amqp_url": check_url})
    except ConfigError as e:
        return exit_config_error(PROG, e)
    configure_logging(settings.log_level.upper())
    # Files the writer creates (the DuckDB file, its write-ahead log and lock files) hold every cluster id.
    os.umask(0o077)
    try:
        sink, metrics = _open_store(settings)
    except SinkConfigError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    stop = threading.Event()
    _stop_on_signals(stop)
    writer = QueueWriter(
        amqp_url=settings.amqp_url,
        queue_name=settings.queue,
        sink=sink,
        batch_size=settings.batch_size,
        batch_max_wait=settings.batch_max_wait.total_seconds(),
        batch_max_bytes=settings.batch_max_bytes,
        max_hold=settings.max_hold.total_seconds(),
        max_held_bytes=settings.max_held_bytes,
        metrics=metrics,
        # Several writers run side by side; the pid tells their connections apart.
        name=f"{settings.connection_name}-{os.getpid()}",
    )
    try:
        return _run(writer, stop)
    finally:
        sink.close()
        metrics.stop()


def dlq_main(argv: Sequence[str] | None = None) -> int:
    """List or replay dead-lettered reports; returns the process exit code."""
    try:
        settings = load_settings(DlqSettings, argv, checks={"amqp_url": check_url})
    except ConfigError as e:
        return exit_config_error(DLQ_PROG, e)
    try:
        if settings.action == "list":
            return dlq.list_dead(
                amqp_url=settings.amqp_url, queue=settings.queue, limit=settings.limit, out=sys.stdout, err=sys.stderr
            )
        return dlq.replay(amqp_url=settings.amqp_url, queue=settings.queue, limit=settings.limit, err=sys.stderr)
    except BrokerError as e:
        print(f"{DLQ_PROG} {settings.action}: error: {e}", file=sys.stderr)
        return EXIT_FAILURE


def queues_main(argv: Sequence[str] | None = None) -> int:
    """Check or migrate the queues' arguments; returns the process exit code."""
    try:
        settings = load_settings(QueuesSettings, argv, checks={"amqp_url": check_url})
    except ConfigError as e:
        return exit_config_error(QUEUES_PROG, e)
    action = queues.check if settings.action == "check" else queues.migrate
    try:
        return action(amqp_url=settings.amqp_url, queue=settings.queue, out=sys.stdout)
    except WriterError as e:
        print(f"{QUEUES_PROG} {settings.action}: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
