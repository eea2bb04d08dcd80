"""The sink port: what a store that takes the writer's batches offers, and what it makes of a batch.

The implementations (``writer.duckdb_sink``, ``writer.bigquery_sink``,
``writer.bigquery_write``, ``writer.stdout_sink``) import this module and
nothing of each other's; ``writer.sink_factory`` picks one from ``--database``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from writer.rows import Row


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a sink made of a batch: every row it did not reject is durably stored."""

    rejected: Mapping[int, str] = field(default_factory=dict)
    """Index in the batch -> why the store refused that row for good."""


class Sink(Protocol):
    """A store that durably accepts batches of rows."""

    @property
    def name(self) -> str:
        """Short name for logs and metrics: ``bigquery``, ``duckdb`` or ``stdout``."""
        ...

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Store ``rows``; return only once they are durable.

        Raises:
            TransientSinkError: nothing can be assumed stored; the same rows may be written again.
            PermanentSinkError: the request as a whole is invalid.
        """
        ...

    def close(self) -> None:
        """Release the store's connection."""
        ...
