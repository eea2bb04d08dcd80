"""Validating costly documents off the event loop, without starving it.

The validator runs in native code and holds the GIL for a whole document: a
thread alone does not free the loop, because while the thread validates the
loop cannot run either. Measured with two clients posting 590-byte gzip bodies
that inflate to 23,000 minimal nodes (170 ms each), the loop got the GIL for a
few milliseconds between documents, and small reports fell to a twentieth.

So the one worker thread keeps a duty cycle: after a document that held it
for ``t`` seconds, the next one starts no sooner than ``t`` seconds later, and
the loop has the GIL in between. A lone large report starts at once; only a
stream of them is slowed, to at most half of the process's time.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Offloader:
    """One worker thread for costly work, yielding to the event loop as long as it held the GIL."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="large-report")
        self._resume_at = 0.0  # only the worker thread reads and writes it

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` on the worker thread, after the pause the previous work earned."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._paced, work))

    def _paced(self, work: Callable[[], T]) -> T:
        pause = self._resume_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)  # releases the GIL: this is the loop's share
        started = time.monotonic()
        try:
            return work()
        finally:
            ended = time.monotonic()
            self._resume_at = ended + (ended - started)

    def shutdown(self) -> None:
        """Drop queued work; work under way finishes on its own."""
        self._executor.shutdown(wait=False, cancel_futures=True)
