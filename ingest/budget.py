"""Admission by memory: what the requests in flight hold and will hold stays under one budget.

Each report submission takes a ``Lease`` on the gateway's ``MemoryBudget``
and grows it before it allocates: by the declared ``Content-Length`` before
reading the body (or as the bytes arrive, or as they inflate), then by what
validating the document will cost. When the budget cannot cover the growth
the request is answered 503 with ``Retry-After`` at once, so memory stays
bounded whatever the mix of requests; a request that alone would need more
than the whole budget is answered 413, since waiting cannot help it.

The last ``small_reserve`` bytes of the budget are kept for small requests
(a lease that stays under ``SMALL_REQUEST``): while large reports fill the
rest, ordinary reports keep getting through.

Validation of large documents runs on a worker thread, so the budget is
guarded by a lock.
"""

from __future__ import annotations

import threading
from typing import Final

from ingest.errors import RequestError, detail

SMALL_REQUEST: Final = 1024 * 1024
"""A lease holding at most this much may use the budget's reserve for small requests."""


class OverBudgetError(Exception):
    """The budget cannot cover this request now; it may succeed later (503 + ``Retry-After``)."""

    def __init__(self, message: str, *, in_use: int, wanted: int) -> None:
        super().__init__(message)
        self.in_use = in_use
        self.wanted = wanted


class MemoryBudget:
    """A count of the bytes that requests in flight hold, under ``limit``.

    Args:
        limit: bytes all requests in flight may hold together.
        small_reserve: bytes of ``limit`` that only small requests may use.
    """

    def __init__(self, limit: int, *, small_reserve: int) -> None:
        if not 0 <= small_reserve < limit:
            raise ValueError("the reserve for small requests must be smaller than the budget")
        self.limit = limit
        self.small_reserve = small_reserve
        self._in_use = 0
        self._lock = threading.Lock()
        self.peak = 0
        """The most ever held at once, for tests and ``/metrics``."""

    @property
    def in_use(self) -> int:
        """Bytes held by requests in flight now."""
        return self._in_use

    @property
    def largest_request(self) -> int:
        """The most one large request may ever hold; a request that needs more gets 413."""
        return self.limit - self.small_reserve

    def lease(self) -> Lease:
        """A new, empty lease for one request."""
        return Lease(self)

    def _take(self, lease: Lease, amount: int) -> None:
        total = lease.held + amount
        ceiling = self.limit
        if total > SMALL_REQUEST:
            ceiling = self.limit - self.small_reserve
            if total > ceiling:
                raise RequestError(
                    413,
                    "request too large",
                    [detail(f"the request would hold {total} bytes, more than the gateway's {ceiling}-byte budget")],
                    close=True,
                )
        with self._lock:
            in_use = self._in_use + amount
            if in_use > ceiling:
                raise OverBudgetError("the gateway is at its memory budget", in_use=self._in_use, wanted=amount)
            self._in_use = in_use
            self.peak = max(self.peak, in_use)
        lease.held = total
        lease.largest = max(lease.largest, total)

    def _give_back(self, lease: Lease, amount: int) -> None:
        with self._lock:
            self._in_use -= amount
        lease.held -= amount


class Lease:
    """What one request holds of the budget; ``release`` it when the request is over."""

    __slots__ = ("_budget", "held", "largest")

    def __init__(self, budget: MemoryBudget) -> None:
        self._budget = budget
        self.held = 0
        self.largest = 0
        """The most this lease held at once."""

    def take(self, amount: int) -> None:
        """Hold ``amount`` more bytes.

        Raises:
            OverBudgetError: not now (503).
            RequestError: 413, never: more than the whole budget allows one request.
        """
        if amount > 0:
            self._budget._take(self, amount)

    def grow_to(self, total: int) -> None:
        """Hold at least ``total`` bytes in all (see ``take``)."""
        self.take(total - self.held)

    def shrink_to(self, total: int) -> None:
        """Hold at most ``total`` bytes, giving the rest back."""
        if self.held > total:
            self._budget._give_back(self, self.held - total)

    def release(self) -> None:
        """Give everything back."""
        self.shrink_to(0)
