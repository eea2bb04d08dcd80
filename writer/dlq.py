"""``spartakus dlq list|replay``: look at dead-lettered reports, or move them back after a fix.

``list`` prints one JSON object a line (report id, reason, receive time,
size, and the size of the report once inflated when the body is gzip) and
leaves every message in place. ``replay`` publishes each message
back to the main queue with a confirm, without the error header and the
broker's death and delivery-count headers (RabbitMQ 3.x and 4.x) but with
``x-spartakus-replays`` counting its replays, and only then removes it from
``<queue>.dead``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from schema.message import MessageEncodingError, decode_body
from schema.topology import RECEIVED_AT_HEADER, dead_letter_queue_name
from writer.amqp.dead import DeadMessage, browse_dead, replay_dead


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def describe(message: DeadMessage) -> dict[str, Any]:
    """The line ``dlq list`` prints for ``message``."""
    headers: Mapping[str, Any] = message.headers
    line: dict[str, Any] = {
        "reportID": message.message_id,
        "reason": message.reason,
        "receivedAt": _text(headers.get(RECEIVED_AT_HEADER)),
        "bytes": len(message.body),
    }
    if message.content_encoding:
        line["contentEncoding"] = message.content_encoding
        try:
            line["reportBytes"] = len(decode_body(message.body, message.content_encoding))
        except MessageEncodingError as e:
            line["reportBytes"], line["decodeError"] = None, str(e)
    return line


def list_dead(*, amqp_url: str, queue: str, limit: int, out: TextIO, err: TextIO) -> int:
    """Print up to ``limit`` dead-lettered messages; returns the exit code."""
    total, messages = browse_dead(amqp_url, queue, limit=limit)
    for message in messages:
        out.write(json.dumps(describe(message), ensure_ascii=False) + "\n")
    out.flush()
    err.write(f"{total} message(s) in {dead_letter_queue_name(queue)}, {len(messages)} shown\n")
    return 0


def replay(*, amqp_url: str, queue: str, limit: int, err: TextIO) -> int:
    """Move up to ``limit`` dead-lettered messages back to ``queue``; returns the exit code."""
    moved = replay_dead(amqp_url, queue, limit=limit)
    err.write(f"replayed {moved} message(s) from {dead_letter_queue_name(queue)} to {queue}\n")
    return 0
