"""Nothing is lost when containers of the running stack are killed, restarted or stopped.

Each test sends reports with cluster ids of its own prefix and reads back, per cluster id, how many rows the dedup
view (and, where it matters, the raw table) holds. Every report ingest answered 204 for must be there exactly once.
"""

from __future__ import annotations

import time
import uuid
from typing import Final

import pytest

from runtime.settings import parse_duration
from tests.compose.senders import send, streaming
from tests.compose.stack import ROOT, TABLE, VIEW, Stack
from tests.support.services import wait_until

pytestmark = pytest.mark.compose

STORE_TIMEOUT: Final = 180.0
ANSWERS: Final = {204, 503}
"""What ingest may answer while the broker is up: accepted, or refused with Retry-After when a confirm is late."""


def prefix(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def writer_grace_seconds() -> float:
    """The writers' ``stop_grace_period`` in compose.yaml."""
    import yaml  # noqa: PLC0415  # only this helper reads compose.yaml

    writer = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["writer"]
    return parse_duration(writer["stop_grace_period"]).total_seconds()


def wait_stored_once(stack: Stack, accepted: set[str], name: str, relation: str = VIEW) -> dict[str, int]:
    """Wait until every accepted cluster id is in ``relation``; the row count of each cluster id of ``name``."""
    counts: dict[str, int] = {}

    def all_there() -> bool:
        counts.clear()
        counts.update(stack.counts(relation, name))
        return accepted <= set(counts)

    wait_until(all_there, timeout=STORE_TIMEOUT, interval=1, what=f"{len(accepted)} reports of {name} in {relation}")
    return counts


def assert_exactly_once(counts: dict[str, int], accepted: set[str]) -> None:
    missing = accepted - set(counts)
    repeated = {cluster: n for cluster, n in counts.items() if n != 1}
    assert not missing, f"{len(missing)} accepted reports are not stored, e.g. {sorted(missing)[:3]}"
    assert not repeated, f"stored more than once: {dict(list(repeated.items())[:3])}"


def test_killing_a_writer_mid_stream_loses_no_accepted_report_and_stores_each_once(healthy: Stack) -> None:
    name = prefix("kill")
    victim = healthy.containers("writer")[0]

    with streaming(healthy.ingest_port, name, 2000) as stream:
        # Halfway: the writers hold prefetched, unacked batches of the first half while the second is still sent.
        wait_until(lambda: stream.accepted_count() >= 1000, timeout=STORE_TIMEOUT, interval=0.01, what="1,000 accepted")
        healthy.docker("kill", victim)
        accepted_at_kill = stream.accepted_count()

    assert set(stream.statuses) <= ANSWERS, stream.statuses
    assert accepted_at_kill < len(stream.accepted), "the writer was killed before the stream ended"
    assert healthy.inspect(victim)["State"]["ExitCode"] == 137 or healthy.inspect(victim)["RestartCount"] > 0
    assert_exactly_once(wait_stored_once(healthy, stream.accepted, name), stream.accepted)


def test_reports_queued_while_the_writers_are_stopped_survive_a_broker_restart(healthy: Stack) -> None:
    name = prefix("restart")
    healthy.compose("stop", "writer")

    stream = send(healthy.ingest_port, name, 500)
    accepted = len(stream.accepted)
    assert set(stream.statuses) <= ANSWERS, stream.statuses
    assert accepted > 0
    wait_until(
        lambda: healthy.queue().get("messages") == accepted,
        timeout=60,
        interval=1,
        what=f"{accepted} messages in the queue",
    )
    assert healthy.counts(TABLE, name) == {}, "no writer runs: nothing can be stored yet"

    healthy.compose("restart", "rabbitmq")
    healthy.compose("up", "--wait", "rabbitmq")
    wait_until(
        lambda: healthy.queue().get("messages") == accepted,
        timeout=60,
        interval=1,
        what=f"{accepted} messages in the queue after the restart",
    )
    healthy.compose("start", "writer")

    assert_exactly_once(wait_stored_once(healthy, stream.accepted, name), stream.accepted)


def test_compose_stop_lets_every_writer_finish_its_batch_and_exit_0_within_its_grace_period(healthy: Stack) -> None:
    name = prefix("stop")
    writers = healthy.containers("writer")

    with streaming(healthy.ingest_port, name, 1500) as stream:
        # Halfway through the stream: each writer holds a batch it has not written or acked yet.
        wait_until(lambda: stream.accepted_count() >= 750, timeout=STORE_TIMEOUT, interval=0.01, what="750 accepted")
        started = time.monotonic()
        healthy.compose("stop")
        took = time.monotonic() - started

    for writer in writers:
        state = healthy.inspect(writer)["State"]
        assert (state["Status"], state["ExitCode"], state["OOMKilled"]) == ("exited", 0, False), writer
    assert took < writer_grace_seconds(), f"compose stop took {took:.1f} s"
    # 0: no answer, once ingest itself was stopped; never a 5xx other than 503, never an error page.
    assert set(stream.statuses) <= {*ANSWERS, 0}, stream.statuses
    assert stream.accepted
    healthy.compose("up", "--wait")
    # Every batch written before the stop was acked: none is written again after the restart.
    assert_exactly_once(wait_stored_once(healthy, stream.accepted, name, TABLE), stream.accepted)
