"""Several broker addresses in one ``--amqp-url``: parsing, the per-process shuffle, and the order of attempts."""

from __future__ import annotations

import random

import pytest

from ingest.settings import IngestSettings
from runtime.brokers import BrokerAddresses, describe_url
from runtime.settings import ConfigError, load_settings, split_amqp_urls
from writer.settings import DlqSettings, WriterSettings

A, B, C = (f"amqp://u:p@rabbit-{n}.rabbit:5672/" for n in "abc")


def test_a_single_url_is_a_list_of_one() -> None:
    assert split_amqp_urls(A) == [A]


def test_urls_are_split_on_commas_with_spaces_removed() -> None:
    assert split_amqp_urls(f"{A}, {B} ,{C}") == [A, B, C]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{A},,{B}", "empty entry"),
        (f"{A},", "empty entry"),
        (f"{A},http://rabbit:5672/", "not an AMQP URL"),
        (f"{A},amqp://rabbit:notaport/", "invalid port"),
        (" , ", "no AMQP URL"),
    ],
)
def test_a_bad_entry_is_refused_with_its_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_amqp_urls(text)


@pytest.mark.parametrize("settings", [IngestSettings, WriterSettings])
def test_every_component_takes_the_list_from_the_environment(
    settings: type[IngestSettings | WriterSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPARTAKUS_AMQP_URL", f"{A}, {B},{C}")
    assert load_settings(settings, []).amqp_url == f"{A},{B},{C}"


def test_the_dlq_tool_takes_the_list_as_a_flag() -> None:
    assert load_settings(DlqSettings, ["list", f"--amqp-url={A},{B}"]).amqp_url == f"{A},{B}"


def test_a_bad_entry_in_the_flag_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="--amqp-url: an empty entry"):
        load_settings(WriterSettings, [f"--amqp-url={A},,{B}"])


def test_logs_and_metrics_name_a_node_without_its_credentials() -> None:
    assert describe_url("amqp://user:secret@rabbit-a:5673/vhost") == "rabbit-a:5673"
    assert describe_url("amqps://user:secret@rabbit-a/") == "rabbit-a:5671"


def test_each_process_shuffles_the_list_so_replicas_spread_over_the_nodes() -> None:
    firsts = {BrokerAddresses([A, B, C], rng=random.Random(seed)).current for seed in range(30)}  # noqa: S311  # seeded on purpose
    assert firsts == {A, B, C}


def test_tools_keep_the_operators_order() -> None:
    assert BrokerAddresses([A, B, C], shuffle=False).round() == [A, B, C]


def test_a_round_starts_with_the_address_in_use_then_tries_each_other_once() -> None:
    brokers = BrokerAddresses([A, B, C], shuffle=False)
    brokers.connected(B)
    assert brokers.round() == [B, C, A]


def test_after_a_loss_the_next_round_starts_with_the_next_node() -> None:
    brokers = BrokerAddresses([A, B, C], shuffle=False)
    brokers.connected(C)
    brokers.lost()
    assert brokers.round() == [A, B, C]


def test_one_url_is_retried_after_a_loss() -> None:
    brokers = BrokerAddresses([A])
    brokers.lost()
    assert brokers.round() == [A]
