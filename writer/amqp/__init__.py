"""The writer's RabbitMQ client (and ``spartakus dlq`` and ``spartakus queues``'): the only part of ``writer`` that
imports pika. Every pika exception leaves it as ``writer.errors.BrokerError``.

- ``connection``: URLs, connecting across the brokers, the topology, message properties, and the one
  translation of pika's errors;
- ``consumer``: ``BrokerSession``, the session (``writer.session``) the writer consumes through;
- ``dead``: browsing and replaying ``<queue>.dead``;
- ``admin``: inspecting, moving and re-creating queues for ``spartakus queues``.
"""
