"""The page: served with its assets as separate files, or written as one self-contained file.

Every asset ships inside the package (``dashboard/static``), so the page never
asks another host for anything. The chart library is Chart.js, vendored
unchanged from its npm package (see ``static/VENDORED.md``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Final

ASSETS: Final = {
    "chart.umd.min.js": "text/javascript; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
"""The files served under ``/assets/``, with their content types."""


@cache
def asset(name: str) -> bytes:
    """The bytes of the packaged asset ``name``.

    Raises:
        KeyError: ``name`` is not one of ``ASSETS``.
    """
    if name not in ASSETS and name != "index.html":
        raise KeyError(name)
    return (resources.files("dashboard") / "static" / name).read_bytes()


def _template() -> str:
    return asset("index.html").decode()


def served_page() -> bytes:
    """The page ``GET /`` answers: it loads its assets from ``/assets/`` and its data from ``/api/adoption``."""
    style = '<link rel="stylesheet" href="assets/dashboard.css">'
    scripts = '<script src="assets/chart.umd.min.js"></script>\n<script src="assets/dashboard.js"></script>'
    return _template().replace("<!--STYLE-->", style).replace("<!--SCRIPTS-->", scripts).encode()


_JSON_IN_HTML: Final = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
"""Escapes that keep JSON inside ``<script>`` inert: no ``</script>``, ``<!--`` or entity can form, and JavaScript
reads the two line separators inside strings (JSON allows them raw) the same on every engine."""


def embedded_json(data: Any) -> str:
    """``data`` as JSON that is safe inside an HTML ``<script>`` element, whatever its strings hold."""
    return json.dumps(data, separators=(",", ":")).translate(_JSON_IN_HTML)


def _script(text: str) -> str:
    # Inside <script>, only "</script" (any case) ends the element early; "<\/" means the same to JavaScript.
    return "<script>" + text.replace("</", "<\\/") + "</script>"


def standalone_page(data: dict[str, Any]) -> bytes:
    """One HTML file with the styles, the scripts and ``data`` inlined: it opens anywhere, offline."""
    style = "<style>" + asset("dashboard.css").decode() + "</style>"
    payload = "window.SPARTAKUS_ADOPTION = " + embedded_json(data) + ";"
    scripts = "\n".join(
        _script(text) for text in (asset("chart.umd.min.js").decode(), payload, asset("dashboard.js").decode())
    )
    return _template().replace("<!--STYLE-->", style).replace("<!--SCRIPTS-->", scripts).encode()
