"""The flood limits and the source address, as units: per-cluster interval, per-source budget, bounded state."""

from __future__ import annotations

import ipaddress

import pytest

from ingest.limits import ClusterTable, FloodLimits, SourceBudget
from ingest.sources import SourceResolver, parse_networks

HOUR = 3600.0


def test_a_second_different_report_within_the_interval_is_refused_until_it_passes() -> None:
    limits = FloodLimits(min_interval=600, new_per_hour=0, slots=64)

    assert limits.admit(cluster_id="c", report_id="r1", source="10.0.0.1", now=1000.0) is None
    refusal = limits.admit(cluster_id="c", report_id="r2", source="10.0.0.1", now=1100.0)

    assert refusal is not None
    assert (refusal.reason, refusal.retry_after) == ("cluster_interval", 500)
    assert limits.admit(cluster_id="c", report_id="r2", source="10.0.0.1", now=1600.0) is None


def test_an_exact_retry_within_the_interval_is_accepted_and_does_not_restart_it() -> None:
    limits = FloodLimits(min_interval=600, new_per_hour=0, slots=64)
    limits.admit(cluster_id="c", report_id="r1", source=None, now=1000.0)

    assert limits.admit(cluster_id="c", report_id="r1", source=None, now=1300.0) is None
    assert limits.admit(cluster_id="c", report_id="r2", source=None, now=1600.0) is None


def test_a_source_introduces_at_most_its_budget_of_new_clusters_and_others_are_unaffected() -> None:
    new: list[int] = []
    limits = FloodLimits(min_interval=600, new_per_hour=60, slots=1024)
    limits.on_new = lambda: new.append(1)

    answers = [limits.admit(cluster_id=f"c{i}", report_id="r", source="10.0.0.1", now=0.0) for i in range(100)]

    assert sum(a is None for a in answers) == 60
    refused = [a for a in answers if a is not None]
    assert {a.reason for a in refused} == {"new_clusters"}
    assert all(0 < a.retry_after <= 61 for a in refused)
    assert limits.admit(cluster_id="elsewhere", report_id="r", source="10.0.0.2", now=0.0) is None
    assert len(new) == 61
    # Known clusters are not new: the flooding source's own admitted ones still report (after the interval).
    assert limits.admit(cluster_id="c0", report_id="r-next", source="10.0.0.1", now=700.0) is None


def test_the_source_budget_refills_over_the_hour() -> None:
    budget = SourceBudget(60)
    assert all(budget.take("a", 0.0) == 0 for _ in range(60))
    assert budget.take("a", 0.0) > 0

    assert budget.take("a", 60.0) == 0  # one token a minute
    assert budget.take("a", 60.0) > 0
    assert all(budget.take("a", HOUR * 2) == 0 for _ in range(60))


def test_the_source_budget_remembers_a_bounded_number_of_addresses() -> None:
    budget = SourceBudget(60, max_sources=100)

    for i in range(1000):
        budget.take(f"10.0.{i // 256}.{i % 256}", 0.0)

    assert len(budget) == 100


def test_the_cluster_table_holds_its_clusters_in_fixed_memory_and_evicts_the_oldest_of_a_set() -> None:
    table = ClusterTable(slots=16)
    assert table.nbytes == 16 * 16

    for i in range(1000):
        table.put(f"c{i}", i, i)

    remembered = [i for i in range(1000) if table.get(f"c{i}") is not None]
    assert len(remembered) <= 16
    assert table.get("c999") == (999, 999)


def test_a_table_size_that_is_not_a_power_of_two_is_refused() -> None:
    with pytest.raises(ValueError, match="power of two"):
        ClusterTable(slots=1000)


def test_limits_of_zero_turn_both_rules_off() -> None:
    limits = FloodLimits(min_interval=0, new_per_hour=0, slots=64)

    assert all(limits.admit(cluster_id="c", report_id=f"r{i}", source="s", now=0.0) is None for i in range(50))
    assert all(limits.admit(cluster_id=f"c{i}", report_id="r", source="s", now=0.0) is None for i in range(500))


def test_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    resolver = SourceResolver(parse_networks("10.0.0.0/8, 192.168.1.1"))

    assert resolver.source("10.1.2.3", b"203.0.113.7") == "203.0.113.7"
    assert resolver.source("198.51.100.1", b"203.0.113.7") == "198.51.100.1"
    # What the client wrote at the left is never believed: the right-most untrusted hop is the source.
    assert resolver.source("10.1.2.3", b"1.1.1.1, 203.0.113.7, 192.168.1.1") == "203.0.113.7"
    assert resolver.source("10.1.2.3", b"garbage, 10.0.0.9") == "10.0.0.9"
    assert resolver.source("10.1.2.3", None) == "10.1.2.3"
    assert SourceResolver().source("10.1.2.3", b"203.0.113.7") == "10.1.2.3"


def test_trusted_proxies_must_be_networks() -> None:
    assert parse_networks("") == ()
    assert parse_networks("fd00::/8") == (ipaddress.ip_network("fd00::/8"),)
    with pytest.raises(ValueError, match="not an IP address"):
        parse_networks("10.0.0.0/8,example.com")
