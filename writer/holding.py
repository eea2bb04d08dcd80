"""What one writer holds: the deliveries it received and has not settled, their bytes and their age.

The writer bounds what it holds by bytes as well as by count: a body counts
as it arrived, and its rows once decoded. Past the byte budget it stops
decoding until batches are written, and it pauses its consumer until half
the budget is free again. The oldest held report's age, from when the
gateway received it, is what an operator alerts on while a store is down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

DEFAULT_MAX_HELD_BYTES: Final = 256 * 2**20
"""Bytes of bodies and rows one writer holds at most (one report larger than this is still taken, alone)."""


@dataclass(slots=True)
class _Held:
    received_at: float
    nbytes: int
    decoded: bool = False


def received_epoch(header: object, *, default: float) -> float:
    """Unix time from an ``x-spartakus-received-at`` header, or ``default`` when it is absent or unreadable."""
    if isinstance(header, bytes):
        header = header.decode(errors="replace")
    if not isinstance(header, str):
        return default
    try:
        return datetime.fromisoformat(header).timestamp()
    except ValueError:
        return default


class Holdings:
    """Unsettled deliveries by tag, with the bytes each holds and when the gateway received it."""

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_HELD_BYTES, clock: Callable[[], float] = time.time) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._clock = clock
        self._held: dict[int, _Held] = {}
        self._bytes = 0
        self._decoded = 0

    def __len__(self) -> int:
        return len(self._held)

    @property
    def nbytes(self) -> int:
        """Bytes held: bodies plus decoded rows."""
        return self._bytes

    @property
    def decoded(self) -> int:
        """How many held deliveries are decoded into rows."""
        return self._decoded

    def received(self, tag: int, nbytes: int, received_at: float) -> None:
        """A delivery arrived with a body of ``nbytes``."""
        self._held[tag] = _Held(received_at, nbytes)
        self._bytes += nbytes

    def decoded_into(self, tag: int, nbytes: int) -> None:
        """The delivery ``tag`` now also holds rows of ``nbytes``."""
        held = self._held.get(tag)
        if held is not None and not held.decoded:
            held.nbytes += nbytes
            held.decoded = True
            self._bytes += nbytes
            self._decoded += 1

    def settled(self, tags: Iterable[int]) -> None:
        """The deliveries ``tags`` were acked, nacked or dead-lettered."""
        for tag in tags:
            held = self._held.pop(tag, None)
            if held is not None:
                self._bytes -= held.nbytes
                self._decoded -= int(held.decoded)

    def clear(self) -> None:
        """Forget everything (the connection was lost; the broker redelivers)."""
        self._held.clear()
        self._bytes = self._decoded = 0

    def over_budget(self) -> bool:
        """Whether the byte budget is used up."""
        return self._bytes >= self.max_bytes

    def may_resume(self) -> bool:
        """Whether enough of the budget is free to take deliveries again."""
        return self._bytes < self.max_bytes // 2

    def oldest_age(self) -> float:
        """Seconds since the gateway received the oldest held report; 0 when nothing is held."""
        if not self._held:
            return 0.0
        return max(0.0, self._clock() - min(h.received_at for h in self._held.values()))
