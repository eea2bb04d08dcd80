"""Publisher-confirm bookkeeping for one channel: which delivery tag each waiting request owns.

In confirm mode the broker numbers a channel's publishes 1, 2, 3... and later
acks or nacks them, singly or "everything up to N". Each request waits on the
future of its own tag. A new channel starts numbering again, so every channel
gets a tracker of its own and a request keeps the tracker it published on.

Confirm timeouts are checked by a periodic sweep rather than a timer per
publish: every publish gets the same timeout, so deadlines arrive in publish
order and the sweep only ever looks at the oldest ones.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ingest.ports import ConfirmTimeoutError, PublishError, PublishNackedError, PublishReturnedError


class ConfirmTracker:
    """Futures of the publishes on one channel that await their confirm."""

    def __init__(self, queue: str) -> None:
        self._queue = queue
        self._pending: dict[int, tuple[asyncio.Future[None], str]] = {}
        self._returned: set[int] = set()
        self._deadlines: deque[tuple[float, int]] = deque()
        self._last_tag = 0
        self._multiple_floor = 1
        self.empty = asyncio.Event()
        self.empty.set()

    def __len__(self) -> int:
        return len(self._pending)

    def track(self, message_id: str, deadline: float) -> tuple[int, asyncio.Future[None]]:
        """Register the publish just sent; returns its delivery tag and the future its confirm settles.

        ``deadline`` is in event-loop time and must not be earlier than that of the previous publish.
        """
        self._last_tag += 1
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[self._last_tag] = (confirmed, message_id)
        self._deadlines.append((deadline, self._last_tag))
        self.empty.clear()
        return self._last_tag, confirmed

    def forget(self, tag: int) -> None:
        """Stop tracking ``tag`` (confirmed, failed or given up on)."""
        if self._pending.pop(tag, None) is not None:
            self._returned.discard(tag)
            if not self._pending:
                self.empty.set()

    def confirm(self, tag: int, *, multiple: bool, acked: bool) -> None:
        """Apply a ``basic.ack`` or ``basic.nack`` for ``tag`` (and every earlier tag when ``multiple``)."""
        if multiple:
            # Each tag is walked at most once over the channel's life: the floor only rises.
            tags: range | tuple[int] = range(self._multiple_floor, tag + 1)
            self._multiple_floor = max(self._multiple_floor, tag + 1)
        else:
            tags = (tag,)
        for each in tags:
            entry = self._pending.get(each)
            if entry is None or entry[0].done():
                continue
            if not acked:
                entry[0].set_exception(PublishNackedError("the broker nacked the message"))
            elif each in self._returned:
                entry[0].set_exception(PublishReturnedError(f"no route to queue {self._queue!r}"))
            else:
                entry[0].set_result(None)

    def returned(self, message_id: str) -> None:
        """Apply a ``basic.return``: the oldest unreturned publish with ``message_id`` was not routed.

        The broker sends the return before the ack of the same message, so the
        ack that follows is turned into a failure.
        """
        for tag, (_confirmed, pending_id) in self._pending.items():
            if pending_id == message_id and tag not in self._returned:
                self._returned.add(tag)
                return

    def expire(self, now: float) -> int:
        """Fail the publishes whose deadline is past ``now`` with ``ConfirmTimeoutError``; returns how many."""
        deadlines = self._deadlines
        expired = 0
        while deadlines:
            deadline, tag = deadlines[0]
            entry = self._pending.get(tag)
            waiting = entry is not None and not entry[0].done()
            if waiting and deadline > now:
                break
            deadlines.popleft()
            if entry is not None and waiting:
                entry[0].set_exception(ConfirmTimeoutError("no confirm from the broker in time"))
                expired += 1
        return expired

    def fail_all(self, error: PublishError) -> None:
        """Settle every waiting publish with ``error`` (channel lost, connection blocked, shutdown)."""
        for confirmed, _message_id in self._pending.values():
            if not confirmed.done():
                confirmed.set_exception(error)
