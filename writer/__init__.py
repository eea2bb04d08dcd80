"""The writer: consumes reports from RabbitMQ in batches and writes them to a store."""
