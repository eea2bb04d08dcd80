"""What a periodic volunteer's processes pass each other: settings already validated, as plain data.

``spartakus volunteer`` validates its settings once (pydantic-settings), then
replaces itself with ``volunteer.scheduler``, which waits between reports and
starts ``volunteer.reporter`` for each one. Both read this plan from the
environment rather than the command line, because ``--database`` may carry
credentials and a process's arguments are readable by every user of the
machine. This module imports the standard library only, and not even
``dataclasses`` (which loads ``inspect``): the waiting process must stay small.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final, NamedTuple

STDOUT: Final = "stdout"
"""The ``--database`` value that prints reports instead of sending them."""

ENV_VAR: Final = "_SPARTAKUS_VOLUNTEER_PLAN"
"""The variable that carries the plan; the leading underscore keeps it out of the ``SPARTAKUS_*`` settings."""

REPORT_DELIVERED: Final = 0
"""The reporter's exit code when its report was delivered (or printed) and logged."""

REPORT_NOT_DELIVERED: Final = 3
"""The reporter's exit code when its report failed or was stopped, and that was logged.

Any other exit (a signal, an interpreter that could not start) means no line
was logged for the report, so the scheduler logs one.
"""


class PlanError(Exception):
    """The plan is missing or malformed: the volunteer was started in a way it does not support."""


class Plan(NamedTuple):
    """One volunteer's validated settings, with ``--cluster-id=auto`` already resolved.

    Attributes:
        cluster_id: the ``clusterID`` of every report.
        database: the collector's base URL, or ``stdout``.
        destination: where reports go, for the log (the URL reports are POSTed to, or ``stdout``).
        kubeconfig: ``--kubeconfig``, or None for the default lookup.
        extensions: ``--extensions``, or None.
        timeout_s: timeout of each HTTP request.
        retry_s: how long one report may keep retrying.
        gzip: compress POST bodies.
        page_size: nodes per list request.
        period_s: seconds between reports (positive).
        slot_s: this cluster's slot in the period, from ``volunteer.schedule.slot_offset``.
        debug: log at debug level.
        signed: the cluster id is self-certifying (``--cluster-id=auto``): each report derives the key and signs.
    """

    cluster_id: str
    database: str
    destination: str
    kubeconfig: str | None
    extensions: str | None
    timeout_s: float
    retry_s: float
    gzip: bool
    page_size: int
    period_s: float
    slot_s: float
    debug: bool
    signed: bool = False

    def to_json(self) -> str:
        """The plan as the JSON text ``from_environ`` reads."""
        return json.dumps(self._asdict(), separators=(",", ":"))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Plan:
        """The plan in ``environ[ENV_VAR]``.

        Raises:
            PlanError: when it is absent or not a plan.
        """
        text = environ.get(ENV_VAR)
        if not text:
            raise PlanError(f"${ENV_VAR} is not set: start the volunteer with 'spartakus volunteer'")
        try:
            data = json.loads(text)
            plan = cls(**{name: data[name] for name in cls._fields})
        except (ValueError, TypeError, KeyError) as e:
            raise PlanError(f"${ENV_VAR} is not a volunteer plan: {e}") from e
        return plan
