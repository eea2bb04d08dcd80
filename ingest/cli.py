"""``spartakus ingest``: settings are built here, once, and passed down."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ingest.amqp.connection import check_url
from ingest.server import serve
from ingest.settings import IngestSettings
from runtime.brokers import describe_url
from runtime.logs import configure_logging
from runtime.settings import ConfigError, exit_config_error, load_settings, split_amqp_urls

PROG = "spartakus ingest"

log = logging.getLogger("ingest")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ingest gateway; returns the process exit code."""
    try:
        settings = load_settings(IngestSettings, argv, checks={"amqp_url": check_url})
    except ConfigError as e:
        return exit_config_error(PROG, e)
    configure_logging(settings.log_level.upper())
    log.info(
        "starting",
        extra={
            "listen": f"{settings.host}:{settings.port}",
            "brokers": [describe_url(url) for url in split_amqp_urls(settings.amqp_url)],
            "queue": settings.queue,
            "workers": settings.workers,
        },
    )
    return serve(settings)
