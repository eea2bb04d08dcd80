"""A report as the original Go volunteer sends it, POSTed by the deployment tests that drive the real components."""

from __future__ import annotations

import json
import urllib.request

from tests.ingest.gateway import go_volunteer_report


def post_go_volunteer_report(port: int | str, cluster_id: str) -> int:
    """POST the Go volunteer's report for ``cluster_id`` to the gateway on ``port``; the HTTP status."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1",
        data=json.dumps(go_volunteer_report(cluster_id)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # a local http:// URL
        status: int = response.status
        return status
