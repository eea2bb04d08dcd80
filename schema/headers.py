"""Message headers the broker sets, and the headers of a message an operator's tool puts back into a queue.

RabbitMQ writes a message's history into its headers: ``x-death`` and the
``x-first-death-*`` summary when it dead-letters it, the ``x-last-death-*``
summary too from 4.0, and ``x-delivery-count`` on each redelivery from a
quorum queue (4.x leaves it off the first delivery; 3.10 sends 0). When
``spartakus dlq replay`` or ``spartakus queues migrate`` publishes a message
again, the broker starts a new history for it, so the old one would be false:
a stale ``x-delivery-count`` and deaths that no longer apply. Those headers
are dropped, and the move is counted in ``x-spartakus-replays``.

Plain data and functions of mappings: it imports no AMQP client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from schema.topology import ERROR_HEADER

REPLAYS_HEADER: Final = "x-spartakus-replays"
"""How many times a tool published the message back into a queue, each time with a fresh broker history."""
BROKER_HEADERS: Final = ("x-death", "x-delivery-count")
BROKER_HEADER_PREFIXES: Final = ("x-first-death-", "x-last-death-")


def broker_set(name: str) -> bool:
    """Whether the broker sets header ``name`` on dead-lettering or on delivery (3.x and 4.x)."""
    return name in BROKER_HEADERS or name.startswith(BROKER_HEADER_PREFIXES)


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def dead_reason(headers: Mapping[str, object]) -> str:
    """Why a message is in the dead-letter queue: the writer's reason, else the broker's death, else "unknown"."""
    reason = _text(headers.get(ERROR_HEADER))
    if reason is not None:
        return reason
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        death = deaths[0]
        return f"dead-lettered by the broker: {_text(death.get('reason'))} from {_text(death.get('queue'))}"
    for summary in ("x-last-death-", "x-first-death-"):
        if f"{summary}reason" in headers:
            reason, queue = _text(headers[f"{summary}reason"]), _text(headers.get(f"{summary}queue"))
            return f"dead-lettered by the broker: {reason} from {queue}"
    return "unknown"


def replays(headers: Mapping[str, object]) -> int:
    """The message's ``x-spartakus-replays`` count; 0 when absent or unreadable."""
    value = headers.get(REPLAYS_HEADER)
    try:
        return max(0, int(_text(value) or 0)) if not isinstance(value, int) else max(0, value)
    except ValueError:
        return 0


def replayed_headers(headers: Mapping[str, object]) -> dict[str, object]:
    """Headers for a dead message that ``dlq replay`` publishes back to the main queue: no error, no broker history."""
    kept = {k: v for k, v in headers.items() if k != ERROR_HEADER and not broker_set(k)}
    kept[REPLAYS_HEADER] = replays(headers) + 1
    return kept


def moved_headers(headers: Mapping[str, object], *, count: bool = True) -> dict[str, object]:
    """Headers for a message that ``queues migrate`` moves between queues: no broker history, the reason kept.

    A message the broker dead-lettered has its reason only in the death
    headers; it is kept in ``x-spartakus-error``, so ``dlq list`` still says why.
    ``count`` is False for the move into the holding queue, so that one
    migration (out and back) counts once.
    """
    kept = {k: v for k, v in headers.items() if not broker_set(k)}
    if ERROR_HEADER not in kept and any(broker_set(k) and k != "x-delivery-count" for k in headers):
        kept[ERROR_HEADER] = dead_reason(headers)
    if count or REPLAYS_HEADER in headers:
        kept[REPLAYS_HEADER] = replays(headers) + int(count)
    return kept
