"""Driving the ASGI app directly, for unit tests with the in-memory publisher."""

from __future__ import annotations

import json
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ingest.app import IngestApp


@dataclass
class AsgiResponse:
    """What the app sent back."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


async def call(
    app: IngestApp,
    method: str,
    path: str,
    chunks: Iterable[bytes] = (),
    headers: Iterable[tuple[str, str]] = (),
) -> tuple[AsgiResponse, int]:
    """Run one request through ``app``; returns the response and how many body chunks the app read."""
    pending = list(chunks) or [b""]
    read = 0

    async def receive() -> MutableMapping[str, Any]:
        nonlocal read
        if read >= len(pending):
            return {"type": "http.disconnect"}
        read += 1
        return {"type": "http.request", "body": pending[read - 1], "more_body": read < len(pending)}

    response = AsgiResponse()

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
        else:
            response.body += message.get("body", b"")

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }
    await app(scope, receive, send)
    return response, read
