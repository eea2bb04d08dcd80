"""A report once per period until SIGTERM: in a small waiting process that starts one child per report.

``spartakus volunteer`` validates its settings, then replaces itself with
this module (``os.execve``), so that the Kubernetes client, pydantic and the
report machinery it loaded are really gone. This process imports the
standard library's basics only; each report runs in a child process
(``volunteer.report_child``) that exits when the report is delivered, so its
memory is returned to the system too. What both need comes in a ``Handover``
in the environment, not on the command line, because ``--database`` may carry
credentials and a process's arguments are readable by every user of the
machine. The cluster's key never travels: each child derives it again.

Signals are taken synchronously: SIGTERM, SIGINT and SIGCHLD stay blocked
(the exec'ing process blocked them already, so none is lost in between) and
``signal.sigtimedwait`` waits for the next slot, a stop, or the child's
exit. This also makes SIGTERM work when the process is PID 1 of a container,
where a signal with the default action is ignored.

On SIGTERM during a report, the child gets SIGTERM and ``STOP_GRACE_S``
to log its ``stopped`` line and exit; a child blocked in network I/O is
then killed, and this process logs the line for it. A child that hangs
(still running two periods, and at least ten minutes, after it started; its
retry budget ends it long before) is killed and logged as failed.

Where the platform lacks ``sigtimedwait``, or a caller embeds the volunteer
with a stop event of its own, ``run_in_process`` keeps the same schedule in
the calling process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from volunteer.slots import seconds_to_next, slot_offset

if TYPE_CHECKING:
    import threading

STOP_SIGNALS: Final = frozenset({signal.SIGTERM, signal.SIGINT})
WATCHED_SIGNALS: Final = STOP_SIGNALS | {signal.SIGCHLD}
STOP_GRACE_S: Final = 3.0
HUNG_PERIODS: Final = 2
HUNG_MIN_S: Final = 600.0
EXIT_STOPPED: Final = 0
EXIT_CONFIG_ERROR: Final = 2
PROG: Final = "spartakus volunteer"  # volunteer.settings.PROG, which this process cannot import (pydantic)
REPORT_CHILD_MODULE: Final = "volunteer.report_child"

ENV_VAR: Final = "_SPARTAKUS_VOLUNTEER_HANDOVER"
"""The variable that carries the ``Handover``; the leading underscore keeps it out of the ``SPARTAKUS_*`` settings."""

REPORT_DELIVERED: Final = 0
"""The report child's exit code when its report was delivered (or printed) and logged."""

REPORT_NOT_DELIVERED: Final = 3
"""The report child's exit code when its report failed or was stopped, and that was logged.

Any other exit (a signal, an interpreter that could not start) means no line
was logged for the report, so the waiting process logs one.
"""

_ENCODER: Final = json.JSONEncoder(default=str, ensure_ascii=False)


class HandoverError(Exception):
    """The handover is missing or malformed: the volunteer was started in a way it does not support."""


class Handover(NamedTuple):
    """What ``spartakus volunteer`` hands the waiting process, and the waiting process each report child.

    Attributes:
        settings: the validated ``VolunteerSettings`` as JSON data (``to_handover``); only the child reads them.
        cluster_id: the ``clusterID`` of every report, ``--cluster-id=auto`` already resolved.
        destination: where reports go, for the lines this process logs for a child.
        period_s: seconds between reports (positive).
        slot_s: this cluster's slot in the period (``volunteer.slots.slot_offset``).
    """

    settings: dict[str, Any]
    cluster_id: str
    destination: str
    period_s: float
    slot_s: float

    @classmethod
    def of(cls, settings: dict[str, Any], *, cluster_id: str, destination: str, period_s: float) -> Handover:
        """The handover of a volunteer reporting as ``cluster_id`` every ``period_s`` seconds."""
        return cls(settings, cluster_id, destination, period_s, slot_offset(cluster_id, period_s))

    def to_json(self) -> str:
        """The handover as the JSON text ``from_environ`` reads."""
        return json.dumps(self._asdict(), separators=(",", ":"))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Handover:
        """The handover in ``environ[ENV_VAR]``.

        Raises:
            HandoverError: when it is absent or not a handover.
        """
        text = environ.get(ENV_VAR)
        if not text:
            raise HandoverError(f"${ENV_VAR} is not set: start the volunteer with 'spartakus volunteer'")
        try:
            data = json.loads(text)
            handover = cls(**{name: data[name] for name in cls._fields})
        except (ValueError, TypeError, KeyError) as e:
            raise HandoverError(f"${ENV_VAR} is not a volunteer handover: {e}") from e
        return handover


def supported() -> bool:
    """Whether this platform can run the waiting process (Linux can; macOS lacks ``sigtimedwait``)."""
    return hasattr(signal, "sigtimedwait") and hasattr(os, "posix_spawn")


def block_signals() -> None:
    """Block the signals the waiting process waits for; called before ``exec`` so that none arrives unhandled."""
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED_SIGNALS)


def log(level: str, message: str, **fields: object) -> None:
    """One JSON line on stderr, in the shape ``runtime.logs`` gives every other line (imported without pydantic)."""
    line: dict[str, object] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": "volunteer",
        "message": message,
        **fields,
    }
    sys.stderr.write(_ENCODER.encode(line) + "\n")
    sys.stderr.flush()


def _wait(signals: frozenset[signal.Signals], seconds: float) -> int | None:
    """The number of the first of ``signals`` to arrive within ``seconds``, else None."""
    info = signal.sigtimedwait(signals, max(0.0, seconds))
    return None if info is None else info.si_signo


def _reap(pid: int) -> int | None:
    """The child's wait status once it has exited, else None."""
    done, status = os.waitpid(pid, os.WNOHANG)
    return status if done else None


class ReportChild:
    """One report's child process (``volunteer.report_child``).

    Args:
        handover: passed on through the environment, as this process received it.
    """

    def __init__(self, handover: Handover) -> None:
        self._handover = handover
        self._started = time.monotonic()
        # The child starts with SIGTERM and SIGINT blocked, and unblocks them once its handlers are in place: a stop
        # that comes while it is still importing then waits for the handlers instead of killing it unlogged.
        self.pid = os.posix_spawn(
            sys.executable, [sys.executable, "-m", REPORT_CHILD_MODULE], dict(os.environ), setsigmask=STOP_SIGNALS
        )

    def wait(self) -> bool:
        """Wait for the report to end; False when a stop signal came first (the report is then stopped)."""
        deadline = self._started + max(HUNG_PERIODS * self._handover.period_s, HUNG_MIN_S)
        while True:
            status = _reap(self.pid)
            if status is not None:
                self._check(status, outcome="failed")
                return True
            signo = _wait(WATCHED_SIGNALS, deadline - time.monotonic())
            if signo in STOP_SIGNALS:
                self._stop()
                return False
            if signo is None:
                os.kill(self.pid, signal.SIGKILL)
                status = os.waitpid(self.pid, 0)[1]
                self._check(status, outcome="failed", error="the report hung and was killed")
                return True

    def _stop(self) -> None:
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        status = _reap(self.pid)
        while status is None and time.monotonic() < deadline:
            _wait(frozenset({signal.SIGCHLD}), deadline - time.monotonic())
            status = _reap(self.pid)
        error = None
        if status is None:
            os.kill(self.pid, signal.SIGKILL)  # blocked in network I/O: stop it now, as the pod expects
            status = os.waitpid(self.pid, 0)[1]
            error = f"the report was still running {STOP_GRACE_S:g}s after SIGTERM and was killed"
        self._check(status, outcome="stopped", error=error)

    def _check(self, status: int, *, outcome: str, error: str | None = None) -> None:
        """Log the report's line when the child could not (it was killed, or never started)."""
        code = os.waitstatus_to_exitcode(status)
        if code in {REPORT_DELIVERED, REPORT_NOT_DELIVERED}:
            return
        detail = f"killed by signal {-code}" if code < 0 else f"exited with {code}"
        log(
            "error",
            "report",
            outcome=outcome,
            error=error or f"the report process {detail} before logging its report",
            destination=self._handover.destination,
            duration_s=round(time.monotonic() - self._started, 3),
        )


def run(handover: Handover, *, rng: random.Random | None = None) -> int:
    """Report now, then in this cluster's slot of every period, until SIGTERM or SIGINT; returns the exit code."""
    jitter = rng or random.Random()  # noqa: S311  # spreading load, not security
    while _wait(STOP_SIGNALS, 0) is None:  # a stop may be pending from before the exec
        started = time.time()
        try:
            child = ReportChild(handover)
        except OSError as e:  # out of processes or memory: this report is lost, the next slot may do better
            log(
                "error",
                "report",
                outcome="failed",
                error=f"cannot start the report process: {e}",
                destination=handover.destination,
            )
        else:
            if not child.wait():
                break
        delay = seconds_to_next(
            last_start=started, now=time.time(), period=handover.period_s, offset=handover.slot_s, rng=jitter
        )
        if _wait(STOP_SIGNALS, delay) is not None:
            break
    log("info", "volunteer stopped")
    return EXIT_STOPPED


def run_in_process(
    report: Callable[[], object],
    *,
    period: float,
    cluster_id: str,
    stop: threading.Event,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
) -> None:
    """Call ``report`` now and then once per period, until ``stop`` is set: the schedule of ``run``, in this process.

    Args:
        report: makes and sends one report; its errors are its own business.
        period: seconds between reports (positive).
        cluster_id: chooses this cluster's slot in the period.
        stop: ends the loop, also in the middle of a wait (SIGTERM sets it).
        clock: wall-clock time in Unix seconds.
        rng: the source of jitter.
    """
    offset = slot_offset(cluster_id, period)
    jitter = rng or random.Random()  # noqa: S311  # spreading load, not security
    while not stop.is_set():
        started = clock()
        report()
        delay = seconds_to_next(last_start=started, now=clock(), period=period, offset=offset, rng=jitter)
        if stop.wait(max(0.0, delay)):
            return


def main() -> int:
    """``python -m volunteer.periodic``, as ``spartakus volunteer`` execs it; returns the exit code."""
    block_signals()
    try:
        handover = Handover.from_environ(os.environ)
    except HandoverError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return run(handover)


if __name__ == "__main__":
    sys.exit(main())
