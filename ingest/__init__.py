"""The ingest gateway: HTTP in, validation, confirmed publish to RabbitMQ."""
