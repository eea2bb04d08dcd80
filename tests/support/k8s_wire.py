"""What the Kubernetes API server puts on the wire, as a real one (v1.36, etcd 3.4) was seen to answer.

- Continue tokens: unpadded base64url of ``{"v":"meta.k8s.io/v1","rv":N,"start":"<last key>\\u0000"}``;
  a malformed one is 400 ``invalid continue token: continue key is not valid: ...``.
- Errors: ``metav1.Status`` bodies; 403 and 404 carry ``details`` (``{"kind":"nodes"}``,
  ``{"name":"default","kind":"namespaces"}``); an expired continue is 410 ``Expired`` with a
  ``metadata.continue`` that carries on inconsistently.
- Quantities come back canonical: ``16777216Ki`` is served as ``16Gi``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from fractions import Fraction
from typing import Any, Final

CONTINUE_VERSION: Final = "meta.k8s.io/v1"
DEFAULT_GIT_VERSION: Final = "v1.31.1-gke.1678000"
EXPIRED_MESSAGE: Final = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list."
)
REASONS: Final = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def encode_continue(resource_version: int, last_key: str) -> str:
    """The token that continues a list at ``resource_version`` after the item whose key is ``last_key``."""
    raw = json.dumps({"v": CONTINUE_VERSION, "rv": resource_version, "start": last_key + "\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


class InvalidContinueError(ValueError):
    """A continue token the server cannot read; the message is the server's."""


def decode_continue(token: str) -> tuple[int, str]:
    """``(resource version, start key)`` of a token; ``InvalidContinueError`` with the server's words otherwise."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError) as e:
        raise InvalidContinueError(f"invalid continue token: continue key is not valid: {e}") from e
    if not isinstance(decoded, dict) or decoded.get("v") != CONTINUE_VERSION:
        raise InvalidContinueError(
            "invalid continue token: continue key is not valid: server does not recognize this encoded version"
        )
    start, rv = decoded.get("start"), decoded.get("rv")
    if not isinstance(start, str) or not start:
        raise InvalidContinueError("invalid continue token: continue key is not valid: encoded start key empty")
    if not isinstance(rv, int) or rv <= 0:
        raise InvalidContinueError(
            "invalid continue token: continue key is not valid: incorrect encoded start resourceVersion"
        )
    return rv, start


def status_body(code: int, reason: str, message: str, *, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``metav1.Status`` error body, as the API server sends it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def forbidden(resource: str, verb: str, *, name: str | None = None, user: str) -> dict[str, Any]:
    """403 for ``verb`` on ``resource`` (cluster-scoped), worded and detailed as the server does."""
    target = f'{resource} "{name}"' if name else resource
    message = (
        f'{target} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group "" at the cluster scope'
    )
    details = {"name": name, "kind": resource} if name else {"kind": resource}
    return status_body(403, "Forbidden", message, details=details)


def expired(continue_token: str) -> dict[str, Any]:
    """410 for a continue token older than the compacted revision, with the token to carry on inconsistently."""
    body = status_body(410, "Expired", EXPIRED_MESSAGE)
    body["metadata"] = {"continue": continue_token}
    return body


_QUANTITY: Final = re.compile(r"^([+-]?[0-9]*\.?[0-9]*)([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")
_BINARY: Final = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_DECIMAL: Final = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}


def _value(number: str, suffix: str) -> Fraction:
    value = Fraction(number)
    if suffix in _BINARY:
        return value * Fraction(1024) ** _BINARY.index(suffix)
    if suffix[:1] in {"e", "E"}:
        return value * Fraction(10) ** int(suffix[1:])
    return value * Fraction(10) ** next(e for e, s in _DECIMAL.items() if s == suffix)


# Pure, and a large cluster repeats a handful of quantities on every node: 65,000 nodes took a minute without it.
@functools.lru_cache(maxsize=4096)
def canonical_quantity(quantity: str) -> str:
    """The form the API server stores ``quantity`` in: the largest suffix of its kind with an integral number.

    As ``resource.Quantity``: a binary quantity stays binary unless it is under
    1024 or not a whole number of bytes (then decimal); values are rounded up to
    nano units. Anything that is not a quantity is returned unchanged.
    """
    match = _QUANTITY.match(quantity)
    if match is None or match.group(1) in {"", "+", "-", "."}:
        return quantity
    number, suffix = match.groups()
    value = _value(number, suffix)
    value = Fraction(-((-value * 10**9).__floor__()), 10**9)  # round up to nano units
    binary = suffix in _BINARY[1:]
    if binary and value.denominator == 1 and abs(value) >= 1024:
        power = max(p for p in range(len(_BINARY)) if value % 1024**p == 0)
        return f"{value // 1024**power}{_BINARY[power]}"
    exponent = max(e for e in _DECIMAL if (value / Fraction(10) ** e).denominator == 1) if value else 0
    mantissa = value / Fraction(10) ** exponent
    if suffix[:1] in {"e", "E"}:
        return f"{mantissa}" + (f"e{exponent}" if exponent else "")
    return f"{mantissa}{_DECIMAL[exponent]}"


def canonical_node(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its capacity and allocatable quantities as the server stores them."""
    status = node.get("status")
    if not isinstance(status, dict):
        return node
    fixed = dict(status)
    for field in ("capacity", "allocatable"):
        if isinstance(status.get(field), dict):
            fixed[field] = {name: canonical_quantity(str(value)) for name, value in status[field].items()}
    return {**node, "status": fixed}


def version_info(git_version: str = DEFAULT_GIT_VERSION) -> dict[str, str]:
    """The body of ``GET /version`` for ``git_version``."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "3b1b0f2e9c4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b",
        "gitTreeState": "clean",
        "buildDate": "2026-09-10T20:07:51Z",
        "goVersion": "go1.22.6 X:boringcrypto",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def namespace_object(name: str, uid: str) -> dict[str, Any]:
    """A ``Namespace`` as the API server serves it."""
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": uid,
            "resourceVersion": "4",
            "creationTimestamp": "2026-01-12T08:41:07Z",
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
