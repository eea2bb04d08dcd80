"""The gateway's RabbitMQ client: the only part of ``ingest`` that imports pika.

- ``errors``: where pika's exceptions become the port's ``PublishError``s;
- ``connection``: connecting with pika's asyncio adapter, frames coalesced, and its callback-style calls awaited;
- ``state``: the states of the channel below, and every change between them;
- ``channel``: the one confirm-mode channel: readiness and reconnection, reporting the events that change its state;
- ``publisher``: the ``Publisher`` port on that channel: publish, await the confirm, drain at shutdown.
"""
