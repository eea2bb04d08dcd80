"""A TCP forwarder in front of RabbitMQ that a test can cut, stall, restore, or use to inject broker frames.

RabbitMQ is shared by every test on the machine, so a test must not stop it
or raise its alarms. A client pointed at this proxy instead sees a real
outage when the proxy cuts the link (existing connections drop, new ones are
refused), a silent broker when it stalls the broker-to-client direction (no
confirms arrive), and real ``connection.blocked``/``unblocked`` frames when
the proxy writes them into the broker-to-client stream between two frames.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Final

FRAME_METHOD: Final = 1
FRAME_END: Final = b"\xce"
_HEADER: Final = struct.Struct(">BHI")
_CONNECTION_CLASS: Final = 10
_BLOCKED: Final = 60
_UNBLOCKED: Final = 61
_BASIC_CLASS: Final = 60
_NACK: Final = 120


def method_frame(class_id: int, method_id: int, arguments: bytes = b"", channel: int = 0) -> bytes:
    """An AMQP 0-9-1 method frame, on channel 0 unless told."""
    payload = struct.pack(">HH", class_id, method_id) + arguments
    return _HEADER.pack(FRAME_METHOD, channel, len(payload)) + payload + FRAME_END


def blocked_frame(reason: str) -> bytes:
    """``connection.blocked``, as RabbitMQ sends it on a memory or disk alarm."""
    text = reason.encode()
    return method_frame(_CONNECTION_CLASS, _BLOCKED, bytes([len(text)]) + text)


def nack_frame(channel: int, delivery_tag: int) -> bytes:
    """``basic.nack`` of one publish (confirm mode), as RabbitMQ sends it when a queue refuses a message."""
    return method_frame(_BASIC_CLASS, _NACK, struct.pack(">QB", delivery_tag, 0), channel=channel)


def unblocked_frame() -> bytes:
    """``connection.unblocked``, as RabbitMQ sends it when the alarm clears."""
    return method_frame(_CONNECTION_CLASS, _UNBLOCKED)


class _Link:
    """One client connection and its upstream; writes toward the client happen whole frames at a time."""

    def __init__(self, client: socket.socket, upstream: socket.socket, stalled: threading.Event) -> None:
        self.client = client
        self.upstream = upstream
        self.to_client = threading.Lock()
        self.stalled = stalled
        self.held = bytearray()

    def start(self) -> None:
        threading.Thread(target=self._client_to_upstream, daemon=True).start()
        threading.Thread(target=self._upstream_to_client, daemon=True).start()

    def inject(self, frame: bytes) -> None:
        with self.to_client:
            self.client.sendall(frame)

    def release(self) -> None:
        with self.to_client:
            self.client.sendall(self.held)
            self.held.clear()

    def close(self) -> None:
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _client_to_upstream(self) -> None:
        with contextlib.suppress(OSError):
            while data := self.client.recv(65536):
                self.upstream.sendall(data)
        self.close()

    def _upstream_to_client(self) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while data := self.upstream.recv(65536):
                buffer += data
                complete = _complete_frames(buffer)
                if complete:
                    with self.to_client:
                        if self.stalled.is_set():
                            self.held += buffer[:complete]
                        else:
                            self.client.sendall(bytes(self.held) + buffer[:complete])
                            self.held.clear()
                    buffer = buffer[complete:]
        self.close()


def _complete_frames(buffer: bytes) -> int:
    """Length of the prefix of ``buffer`` that holds whole frames."""
    end = 0
    while len(buffer) - end >= _HEADER.size:
        _type, _channel, size = _HEADER.unpack_from(buffer, end)
        frame_end = end + _HEADER.size + size + 1
        if frame_end > len(buffer):
            break
        end = frame_end
    return end


class AmqpProxy:
    """Forward ``127.0.0.1:<port>`` to the broker at ``upstream``; a context manager that stops it on exit."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._down = threading.Event()
        self._stalled = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> AmqpProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._listener.close()
        self._drop_links()

    def url(self, user: str = "guest", password: str = "guest") -> str:  # noqa: S107  # the broker's test account
        """AMQP URL of the proxy."""
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/"

    def cut(self) -> None:
        """Drop every connection and refuse new ones until ``restore``: the broker looks down."""
        self._down.set()
        self._drop_links()

    def restore(self) -> None:
        """Accept and forward connections again."""
        self._down.clear()

    def stall(self) -> None:
        """Hold back everything the broker sends (confirms included) until ``resume``."""
        self._stalled.set()

    def resume(self) -> None:
        """Deliver what was held back, and forward again."""
        self._stalled.clear()
        with self._lock:
            links = list(self._links)
        for link in links:
            with contextlib.suppress(OSError):
                link.release()

    def inject(self, frame: bytes) -> None:
        """Write ``frame`` to every client, between two broker frames."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.inject(frame)

    def _drop_links(self) -> None:
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _address = self._listener.accept()
            except TimeoutError:
                continue
            if self._down.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            link = _Link(client, upstream, self._stalled)
            with self._lock:
                self._links.append(link)
            link.start()
