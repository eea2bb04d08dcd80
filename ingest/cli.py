"""``spartakus ingest``: settings are built here, once, and passed down."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from ingest.publisher import check_url
from ingest.server import serve
from ingest.settings import IngestSettings
from runtime.logs import configure_logging
from runtime.settings import ConfigError, exit_config_error, load_settings

PROG = "spartakus ingest"

log = logging.getLogger("ingest")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ingest gateway; returns the process exit code."""
    try:
        settings = load_settings(IngestSettings, argv)
        check_url(settings.amqp_url)
    except ConfigError as e:
        return exit_config_error(PROG, e)
    except ValueError as e:
        return exit_config_error(PROG, ConfigError(f"--amqp-url: {e}"))
    configure_logging(settings.log_level.upper())
    broker = urlsplit(settings.amqp_url)
    log.info(
        "starting",
        extra={
            "listen": f"{settings.host}:{settings.port}",
            "broker": f"{broker.hostname}:{broker.port or 5672}{broker.path}",
            "queue": settings.queue,
            "workers": settings.workers,
        },
    )
    return serve(settings)
