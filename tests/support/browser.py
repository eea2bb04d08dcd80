"""A real headless Chromium (Debian's package) driven by Playwright, recording what a page asks for and logs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.services import missing_service

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


@dataclass
class PageRecord:
    """What one page did: the URLs it requested and the errors it logged."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def chromium_path() -> str:
    """Debian's chromium binary; a missing browser skips the test locally and fails it in CI."""
    for candidate in CHROMIUM_CANDIDATES:
        if shutil.which(candidate):
            return candidate
    missing_service("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    raise AssertionError("unreachable")


@contextmanager
def browser_page(*, width: int = 1280, height: int = 900) -> Iterator[tuple[Any, PageRecord]]:
    """A fresh Chromium (own profile directory) and one page in it, with a record of its requests and errors."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415  # only the browser tests need it
    except ImportError:
        missing_service("playwright is not installed (it is in the test extras)")
        raise
    executable = chromium_path()
    with tempfile.TemporaryDirectory(prefix="spartakus-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.new_page()
            record = PageRecord()
            page.on("request", lambda request: record.requests.append(request.url))
            page.on("console", lambda msg: record.errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda error: record.errors.append(str(error)))
            yield page, record
        finally:
            context.close()
