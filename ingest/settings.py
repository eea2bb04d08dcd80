"""Ingest gateway settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from schema.settings import settings_config
from schema.topology import DEFAULT_QUEUE

DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/"


class IngestSettings(BaseSettings):
    """Accept reports over HTTP and publish them to RabbitMQ. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = settings_config("spartakus ingest")

    host: str = Field(default="0.0.0.0", description="Address to listen on. [SPARTAKUS_HOST]")  # noqa: S104  # a server in a container listens on every interface
    port: int = Field(default=8080, ge=0, le=65535, description="Port to listen on. [SPARTAKUS_PORT]")
    amqp_url: str = Field(default=DEFAULT_AMQP_URL, description="RabbitMQ URL. [SPARTAKUS_AMQP_URL]")
    queue: str = Field(default=DEFAULT_QUEUE, min_length=1, description="Report queue name. [SPARTAKUS_QUEUE]")
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="Largest accepted request body, raw and after gzip inflation. [SPARTAKUS_MAX_BODY_BYTES]",
    )
