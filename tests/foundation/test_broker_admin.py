"""Tests administer the broker under test only through SPARTAKUS_TEST_RABBITMQCTL, on the port its URL names."""

from __future__ import annotations

import pytest

from tests.support.broker_admin import broker_port, can_administer, rabbitmqctl_command


def test_the_default_command_is_the_machines_rabbitmqctl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARTAKUS_TEST_RABBITMQCTL", raising=False)
    assert rabbitmqctl_command() == ["rabbitmqctl"]


def test_the_hook_is_a_command_prefix_split_as_a_shell_would(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARTAKUS_TEST_RABBITMQCTL", "'/opt/my tools/ctl.sh' ctl node-a -n 'a b'")
    assert rabbitmqctl_command() == ["/opt/my tools/ctl.sh", "ctl", "node-a", "-n", "a b"]


def test_a_command_that_does_not_exist_cannot_administer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARTAKUS_TEST_RABBITMQCTL", "/nonexistent/rabbitmqctl -n x")
    assert not can_administer()


@pytest.mark.parametrize(
    ("url", "port"),
    [("amqp://g:g@127.0.0.1:24103/", 24103), ("amqp://g:g@broker/", 5672), ("amqps://g:g@broker/", 5671)],
)
def test_the_broker_port_comes_from_the_url_under_test(url: str, port: int) -> None:
    assert broker_port(url) == port
