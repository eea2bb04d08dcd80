"""Flood limits: how often one cluster id may report, and how many new cluster ids one source may introduce.

Two rules, both answered ``429`` with ``Retry-After``:

- **Per cluster.** A cluster id whose last accepted report is younger than
  ``min_interval`` gets 429, unless the report is the very same one again
  (same content, so the same report id): a retry after a lost answer must
  still succeed, and storing it twice costs nothing since copies merge.
- **Per source.** A cluster id the gateway has not seen recently is *new*,
  and each source address may introduce at most ``new_per_hour`` of them an
  hour (a token bucket, refilled continuously).

State lives in this process only, in fixed memory: ``ClusterTable`` keeps a
64-bit fingerprint of each cluster id and one 64-bit word (last time and the
report id's fingerprint) in two flat arrays (anonymous memory maps), set-associative with the oldest
entry of a full set evicted; 2^21 slots hold a million clusters in 32 MiB.
An evicted cluster is simply new again. Source addresses are kept in a
bounded LRU, in memory only; they are never stored or logged. Each gateway
replica (and each worker process) enforces the limits on what it receives,
so N replicas admit up to N times the budget.
"""

from __future__ import annotations

import mmap
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

SET_WAYS: Final = 4
"""Slots searched for one cluster id; the oldest of them is replaced when all are taken."""
DEFAULT_SLOTS: Final = 2**21
"""Cluster slots: 16 bytes each, 32 MiB in all, room for a million clusters with few evictions."""
MAX_SOURCES: Final = 65_536
"""Source addresses remembered at once (least recently seen forgotten first)."""
_LOW32: Final = 0xFFFF_FFFF
_LOW64: Final = 0xFFFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a report is refused, and after how many seconds to retry."""

    reason: str
    """``cluster_interval`` or ``new_clusters``: the metric label and the log field."""
    retry_after: int
    message: str


def _fingerprint(text: str) -> int:
    # Python's string hash is SipHash with a key drawn at process start: it spreads ids evenly, a sender
    # cannot aim ids at one set to evict a cluster, and the state never leaves the process. 0 marks an empty slot.
    return (hash(text) & _LOW64) or 1


class ClusterTable:
    """When each recent cluster id last had a report accepted, and that report's fingerprint, in fixed memory."""

    def __init__(self, slots: int = DEFAULT_SLOTS) -> None:
        if slots < SET_WAYS or slots & (slots - 1):
            raise ValueError("slots must be a power of two of at least SET_WAYS")
        # Anonymous mappings start as zero pages the system only provides once written: an idle
        # gateway pays for the clusters it has seen, and a million of them at most the full size.
        self._maps = (mmap.mmap(-1, 8 * slots), mmap.mmap(-1, 8 * slots))
        self._keys = memoryview(self._maps[0]).cast("Q")
        self._values = memoryview(self._maps[1]).cast("Q")
        self._sets_mask = slots // SET_WAYS - 1

    @property
    def nbytes(self) -> int:
        """Memory the two arrays take once every slot was written."""
        return self._keys.nbytes + self._values.nbytes

    def get(self, cluster_id: str) -> tuple[int, int] | None:
        """``(seconds, report fingerprint)`` of the cluster's last accepted report, or None if not remembered."""
        _, last = self.find(cluster_id)
        return last

    def put(self, cluster_id: str, seconds: int, report: int) -> None:
        """Remember the cluster's last accepted report, replacing the set's oldest entry if it is full."""
        self.store(self.find(cluster_id)[0], seconds, report)

    def find(self, cluster_id: str) -> tuple[tuple[int, int], tuple[int, int] | None]:
        """Where the cluster's entry is or would go (for ``store``), and what ``get`` answers: one search for both."""
        key = _fingerprint(cluster_id)
        keys, values = self._keys, self._values
        base = (key & self._sets_mask) * SET_WAYS
        victim, oldest = base, -1
        for slot in range(base, base + SET_WAYS):
            current = keys[slot]
            if current == key:
                value = values[slot]
                return (slot, key), (value >> 32, value & _LOW32)
            if current == 0:
                # Entries are never removed, so an id is never stored past an empty slot.
                return (slot, key), None
            seen = values[slot] >> 32
            if oldest < 0 or seen < oldest:
                victim, oldest = slot, seen
        return (victim, key), None

    def store(self, place: tuple[int, int], seconds: int, report: int) -> None:
        """Write an entry at the ``place`` that ``find`` gave."""
        slot, key = place
        self._keys[slot] = key
        self._values[slot] = ((seconds & _LOW32) << 32) | (report & _LOW32)


class SourceBudget:
    """A token bucket per source address for new cluster ids, ``per_hour`` tokens an hour, in a bounded LRU."""

    def __init__(self, per_hour: int, *, max_sources: int = MAX_SOURCES) -> None:
        self._per_hour = per_hour
        self._rate = per_hour / 3600.0
        self._max_sources = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, source: str, now: float) -> int:
        """Take one token for ``source``: 0 if granted, else the seconds until one is available."""
        tokens, updated = self._buckets.pop(source, (float(self._per_hour), now))
        tokens = min(float(self._per_hour), tokens + (now - updated) * self._rate)
        granted = tokens >= 1.0
        if granted:
            tokens -= 1.0
        self._buckets[source] = (tokens, now)
        if len(self._buckets) > self._max_sources:
            self._buckets.popitem(last=False)
        return 0 if granted else max(1, int((1.0 - tokens) / self._rate) + 1)


class FloodLimits:
    """The two rules together; a limit of 0 turns its rule off.

    Args:
        min_interval: seconds between two different accepted reports of one cluster id.
        new_per_hour: new cluster ids one source address may introduce an hour.
        slots: size of the cluster table (see ``ClusterTable``).
    """

    def __init__(self, *, min_interval: int, new_per_hour: int, slots: int = DEFAULT_SLOTS) -> None:
        self._min_interval = min_interval
        self._clusters = ClusterTable(slots)
        self._sources = SourceBudget(new_per_hour) if new_per_hour > 0 else None
        self.on_new: Callable[[], None] = lambda: None
        """Called for each new cluster id admitted (the gateway counts them in a metric)."""

    def admit(self, *, cluster_id: str, report_id: str, source: str | None, now: float) -> Refusal | None:
        """Check one validated report and, when it passes, remember it; None means go ahead."""
        report = _fingerprint(report_id) & _LOW32
        seconds = int(now)
        place, last = self._clusters.find(cluster_id)
        if last is not None:
            last_seconds, last_report = last
            wait = last_seconds + self._min_interval - seconds
            if wait > 0:
                if report == last_report:
                    return None  # an exact retry: accepted, and the interval still runs from the first
                message = f"this cluster reported less than {self._min_interval} seconds ago"
                return Refusal("cluster_interval", wait, message)
        elif self._sources is not None and source is not None:
            wait = self._sources.take(source, now)
            if wait:
                return Refusal("new_clusters", wait, "this source introduced too many new cluster ids this hour")
        if last is None:
            self.on_new()
        self._clusters.store(place, seconds, report)
        return None
