"""Tests against a RabbitMQ cluster of three nodes of the run's own."""
