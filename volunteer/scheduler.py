"""The periodic volunteer between reports: a small process that waits, and starts one reporter per report.

``spartakus volunteer`` validates its settings, then replaces itself with
this module (``os.execve``), so that the Kubernetes client, pydantic and the
report machinery it loaded are really gone. This process imports the
standard library's basics only; each report runs in a child process
(``volunteer.reporter``) that exits when the report is delivered, so its
memory is returned to the system too.

Signals are taken synchronously: SIGTERM, SIGINT and SIGCHLD stay blocked
(the exec'ing process blocked them already, so none is lost in between) and
``signal.sigtimedwait`` waits for the next slot, a stop, or the reporter's
exit. This also makes SIGTERM work when the process is PID 1 of a container,
where a signal with the default action is ignored.

On SIGTERM during a report, the reporter gets SIGTERM and ``STOP_GRACE_S``
to log its ``stopped`` line and exit; a reporter blocked in network I/O is
then killed, and this process logs the line for it. A reporter that hangs
(still running two periods, and at least ten minutes, after it started; its
retry budget ends it long before) is killed and logged as failed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Final

from volunteer.plan import REPORT_DELIVERED, REPORT_NOT_DELIVERED, Plan, PlanError
from volunteer.schedule import max_jitter, next_slot

STOP_SIGNALS: Final = frozenset({signal.SIGTERM, signal.SIGINT})
WATCHED_SIGNALS: Final = STOP_SIGNALS | {signal.SIGCHLD}
STOP_GRACE_S: Final = 3.0
HUNG_PERIODS: Final = 2
HUNG_MIN_S: Final = 600.0
EXIT_STOPPED: Final = 0
EXIT_CONFIG_ERROR: Final = 2
PROG: Final = "spartakus volunteer"
REPORTER_MODULE: Final = "volunteer.reporter"

_ENCODER: Final = json.JSONEncoder(default=str, ensure_ascii=False)


def supported() -> bool:
    """Whether this platform can run the scheduler (Linux can; macOS lacks ``sigtimedwait``)."""
    return hasattr(signal, "sigtimedwait") and hasattr(os, "posix_spawn")


def block_signals() -> None:
    """Block the signals the scheduler waits for; called before ``exec`` so that none arrives unhandled."""
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


class Reporter:
    """One report's child process.

    Args:
        plan: passed on through the environment, as this process received it.
    """

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._started = time.monotonic()
        # The child starts with SIGTERM and SIGINT blocked, and unblocks them once its handlers are in place: a stop
        # that comes while it is still importing then waits for the handlers instead of killing it unlogged.
        self.pid = os.posix_spawn(
            sys.executable, [sys.executable, "-m", REPORTER_MODULE], dict(os.environ), setsigmask=STOP_SIGNALS
        )

    def wait(self) -> bool:
        """Wait for the report to end; False when a stop signal came first (the report is then stopped)."""
        deadline = self._started + max(HUNG_PERIODS * self._plan.period_s, HUNG_MIN_S)
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
        """Log the report's line when the reporter could not (it was killed, or never started)."""
        code = os.waitstatus_to_exitcode(status)
        if code in {REPORT_DELIVERED, REPORT_NOT_DELIVERED}:
            return
        detail = f"killed by signal {-code}" if code < 0 else f"exited with {code}"
        log(
            "error",
            "report",
            outcome=outcome,
            error=error or f"the report process {detail} before logging its report",
            destination=self._plan.destination,
            duration_s=round(time.monotonic() - self._started, 3),
        )


def run(plan: Plan, *, rng: random.Random | None = None) -> int:
    """Report now, then in this cluster's slot of every period, until SIGTERM or SIGINT; returns the exit code."""
    jitter = rng or random.Random()  # noqa: S311  # spreading load, not security
    while _wait(STOP_SIGNALS, 0) is None:  # a stop may be pending from before the exec
        started = time.time()
        try:
            reporter = Reporter(plan)
        except OSError as e:  # out of processes or memory: this report is lost, the next slot may do better
            log(
                "error",
                "report",
                outcome="failed",
                error=f"cannot start the report process: {e}",
                destination=plan.destination,
            )
        else:
            if not reporter.wait():
                break
        target = next_slot(last_start=started, now=time.time(), period=plan.period_s, offset=plan.slot_s)
        delay = target + jitter.uniform(0, max_jitter(plan.period_s)) - time.time()
        if _wait(STOP_SIGNALS, delay) is not None:
            break
    log("info", "volunteer stopped")
    return EXIT_STOPPED


def main() -> int:
    """``python -m volunteer.scheduler``, as ``spartakus volunteer`` execs it; returns the exit code."""
    block_signals()
    try:
        plan = Plan.from_environ(os.environ)
    except PlanError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return run(plan)


if __name__ == "__main__":
    sys.exit(main())
