"""Several RabbitMQ addresses in one ``--amqp-url``: which one a client tries next.

``SPARTAKUS_AMQP_URL`` may name every node of a cluster, separated by
commas. Each process shuffles the list once, so that the replicas of a
component spread over the nodes, then connects to the first address that
answers. When its connection is lost, it starts the next round with the
address after the one it lost (that node may be gone) and goes round the
whole list before its retry policy waits. A single URL behaves as before.

This module holds no client: the gateway's and the writer's AMQP modules
each ask it for the order in which to try, and tell it which address worked.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from runtime.settings import redact_in, split_amqp_urls


def describe_url(url: str) -> str:
    """``host:port`` of ``url``, for logs and metrics: never the credentials."""
    parts = urlsplit(url)
    default = 5671 if parts.scheme == "amqps" else 5672
    return f"{parts.hostname}:{parts.port or default}"


def check_urls(urls: str, parse: Callable[[str], object]) -> None:
    """Refuse, at start-up, an AMQP URL that the client cannot use (a bad query option, say), in a list too.

    ``parse`` is the client's own URL parser (``pika.URLParameters``): what the
    client accepts is the client's to say, the loop and the message are this one's.

    Raises:
        ValueError: why, with the password masked.
    """
    for url in split_amqp_urls(urls):
        try:
            parse(url)
        except (ValueError, TypeError, KeyError, SyntaxError) as e:
            raise ValueError(redact_in(f"pika cannot use it: {e}", url)) from e


class BrokerAddresses:
    """The addresses of one process, in its own shuffled order, and the one it uses now.

    Args:
        urls: one or more AMQP URLs (``split_amqp_urls`` of the setting).
        shuffle: shuffle once at start, so that replicas spread over the nodes; tools that
            run once keep the operator's order.
        rng: the random source of the shuffle (tests pass a seeded one).
    """

    def __init__(self, urls: Sequence[str], *, shuffle: bool = True, rng: random.Random | None = None) -> None:
        if not urls:
            raise ValueError("at least one AMQP URL is needed")
        self._urls = list(urls)
        if shuffle and len(self._urls) > 1:
            (rng or random.Random()).shuffle(self._urls)  # noqa: S311  # spreads load; not a secret
        self._current = 0

    @classmethod
    def parse(cls, text: str, *, shuffle: bool = True, rng: random.Random | None = None) -> BrokerAddresses:
        """The addresses of a comma-separated ``--amqp-url``."""
        return cls(split_amqp_urls(text), shuffle=shuffle, rng=rng)

    def __len__(self) -> int:
        return len(self._urls)

    @property
    def urls(self) -> list[str]:
        """Every address, in this process's order."""
        return list(self._urls)

    @property
    def current(self) -> str:
        """The address in use, or to be tried first."""
        return self._urls[self._current]

    def round(self) -> list[str]:
        """The order of one round of attempts: the current address first, then the others in turn."""
        return self._urls[self._current :] + self._urls[: self._current]

    def connected(self, url: str) -> None:
        """``url`` answered: it is the current address from now on."""
        self._current = self._urls.index(url)

    def lost(self) -> None:
        """The connection to the current address was lost: the next round starts with the next address."""
        self._current = (self._current + 1) % len(self._urls)
