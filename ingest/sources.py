"""Which address a request comes from, for the per-source budget only: held in memory, never stored or logged.

Behind a load balancer every request arrives from the balancer's address.
``--trusted-proxies`` names the networks whose ``X-Forwarded-For`` is
believed: the source is the right-most address in the chain that is not
itself a trusted proxy (an address the client wrote at the left of the header
is never believed, since the client can write anything there).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Final

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAX_HOPS: Final = 32
"""Entries of X-Forwarded-For looked at, from the right; a longer chain is a client's invention."""


def parse_networks(text: str | Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) separated by commas, e.g. ``10.0.0.0/8,fd00::/8``.

    Raises:
        ValueError: an entry is not an address or a network.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    networks: list[Network] = []
    for item in (i.strip() for i in items):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as e:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from e
    return tuple(networks)


class SourceResolver:
    """The source address of a request, given its peer and its ``X-Forwarded-For`` header."""

    def __init__(self, trusted: Sequence[Network] = ()) -> None:
        self._trusted = tuple(trusted)

    def _is_trusted(self, address: Address) -> bool:
        return any(address in network for network in self._trusted)

    def source(self, peer: str | None, forwarded_for: bytes | None) -> str | None:
        """The address to charge, as text; None when there is no peer (a Unix socket)."""
        if peer is None:
            return None
        if not self._trusted or forwarded_for is None:
            return peer
        current = _address(peer)
        if current is None or not self._is_trusted(current):
            return peer
        hops = forwarded_for.decode("latin-1").split(",")[-_MAX_HOPS:]
        for hop in reversed(hops):
            address = _address(hop.strip())
            if address is None:
                break  # garbage in the chain: the last trusted hop is the best we know
            current = address
            if not self._is_trusted(address):
                break
        return str(current)


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
