"""Giving memory back to the system after large requests.

glibc keeps freed memory in its heaps for reuse; after a burst of large
reports the gateway would keep hundreds of megabytes it no longer uses, and
a pod's memory limit counts them. ``malloc_trim`` returns the free pages.
It can take tens of milliseconds on a large heap, so it runs on a thread of
its own, at most once per ``MIN_INTERVAL``, after a large request finished.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable
from typing import Final

MIN_INTERVAL: Final = 1.0
"""Seconds between two trims at least; a burst of large requests costs one trim per second."""

log = logging.getLogger(__name__)


def _libc_trim() -> Callable[[], None] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class HeapTrimmer:
    """Trims the C heap on a background thread when asked, at most once per ``MIN_INTERVAL``."""

    def __init__(self, trim: Callable[[], None] | None = None) -> None:
        self._trim = trim if trim is not None else _libc_trim()
        self._wanted = threading.Event()
        self._pause = threading.Event()
        """Never set: its timed wait spaces trims out during a burst."""
        self._thread: threading.Thread | None = None
        self.trims = 0
        """How many trims ran."""

    def request(self) -> None:
        """Ask for a trim soon; cheap, and safe from any thread."""
        if self._trim is None:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="heap-trim", daemon=True)
            self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        trim = self._trim
        if trim is None:
            return
        while True:
            self._wanted.wait()
            self._wanted.clear()
            started = time.perf_counter()
            trim()
            self.trims += 1
            log.debug("heap trimmed", extra={"seconds": round(time.perf_counter() - started, 4)})
            self._pause.wait(MIN_INTERVAL)
