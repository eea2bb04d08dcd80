"""Pydantic models of the Spartakus v1 report, as the original Go volunteer sends it.

The wire names are camelCase. Optional fields are omitted when empty on the
way out (``dump_report``), exactly as the Go volunteer's ``omitempty`` did, so
that an original collector accepts what our volunteer sends.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

SCHEMA_VERSION: Final = "1"
"""Version of the report contract carried in AMQP headers."""

UNKNOWN_VERSION: Final = "UNKNOWN"
CLUSTER_ID_MAX: Final = 1024
"""Longest accepted ``clusterID``: a UUID by convention, bounded so that no sender can make it a payload."""
# Unix seconds fit in 19 digits; a longer digit string is not a time (and int() refuses past 4,300 digits).
_TIMESTAMP_DIGITS_MAX: Final = 19

# Kubernetes was announced in 2014; an earlier "Unix seconds" value is not a
# real report time, and one far in the future is a clock or unit mistake
# (the user guide's example carries microseconds).
_EARLIEST_TIMESTAMP: Final = 1_388_534_400
_FUTURE_SLACK_SECONDS: Final = 24 * 3600
FUTURE_SKEW_SECONDS: Final = _FUTURE_SLACK_SECONDS
"""How far ahead of its arrival a report's timestamp may lie (``schema.figures`` applies it to stored rows)."""

REPORT_ID_NAMESPACE: Final = uuid.UUID("8c1f3c52-3b0e-5a3c-9d0e-5370617274a1")
"""Namespace of derived report ids: ``uuid5(REPORT_ID_NAMESPACE, "<len>:<clusterID><timestamp>")``."""
_REPORT_ID_NAMESPACE_BYTES: Final = REPORT_ID_NAMESPACE.bytes

_DNS1123_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_RE: Final = re.compile(rf"{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*")
_QUALIFIED_NAME_RE: Final = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_PREFIX_MAX: Final = 253
_NAME_MAX: Final = 63

EXTENSION_KEY_SCHEMA: Final[dict[str, Any]] = {
    # The rule of ``qualified_name_error`` in JSON Schema, for the API description. Its
    # patterns work alike in ECMA 262 and Python: the second bounds the prefix without a
    # lookahead, and "not newline" stands in for an end anchor that Python's "$" lacks.
    "pattern": rf"^(?:{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*/)?"
    rf"[A-Za-z0-9](?:[-A-Za-z0-9_.]{{0,{_NAME_MAX - 2}}}[A-Za-z0-9])?$",
    "allOf": [{"pattern": rf"^(?:[^/]{{1,{_PREFIX_MAX}}}/)?[^/]*$"}],
    "not": {"pattern": "\n"},
    "maxLength": _PREFIX_MAX + 1 + _NAME_MAX,
    "description": "A Kubernetes qualified name: an optional DNS-1123 subdomain prefix of at most "
    f"{_PREFIX_MAX} characters and '/', then a name of 1-{_NAME_MAX} characters of [A-Za-z0-9-_.], "
    "starting and ending with a letter or digit.",
}
"""The extension key rule as JSON Schema keywords."""

ReportId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


def qualified_name_error(key: str) -> str | None:
    """Explain why ``key`` breaks the Kubernetes qualified-name rule, or return None if it is valid."""
    prefix, sep, name = key.rpartition("/")
    if sep and not prefix:
        return f"extension key {key!r}: the prefix before '/' must not be empty"
    if "/" in prefix:
        return f"extension key {key!r}: at most one '/' is allowed"
    if prefix and (len(prefix) > _PREFIX_MAX or not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix)):
        return (
            f"extension key {key!r}: the prefix must be a DNS-1123 subdomain "
            f"(lower-case labels separated by '.', at most {_PREFIX_MAX} characters)"
        )
    if not name or len(name) > _NAME_MAX or not _QUALIFIED_NAME_RE.fullmatch(name):
        return (
            f"extension key {key!r}: the name must be 1-{_NAME_MAX} characters of "
            "[A-Za-z0-9-_.], starting and ending with a letter or digit"
        )
    return None


def compact_json(value: Any) -> str:
    """Render a non-string extension value the way the wire carries it: compact JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Resource(TypedDict):
    """One entry of a node's capacity, e.g. ``{"resource": "cpu", "value": "4"}``."""

    resource: str
    value: str


class Node(BaseModel):
    """What is reported of one node. ``id`` is the anonymised md5 id; names never leave the cluster."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: Annotated[str, Field(min_length=1)]
    operating_system: str | None = Field(default=None, alias="operatingSystem")
    os_image: str | None = Field(default=None, alias="osImage")
    kernel_version: str | None = Field(default=None, alias="kernelVersion")
    architecture: str | None = None
    container_runtime_version: str | None = Field(default=None, alias="containerRuntimeVersion")
    kubelet_version: str | None = Field(default=None, alias="kubeletVersion")
    cloud_provider: str | None = Field(default=None, alias="cloudProvider")
    # fail_fast: a hostile list of a million bad entries costs one error, not a million.
    capacity: Annotated[list[Resource] | None, Field(fail_fast=True)] = None


class Extension(BaseModel):
    """A user-supplied key/value pair. The key is a Kubernetes qualified name."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(json_schema_extra=EXTENSION_KEY_SCHEMA)
    value: str

    @field_validator("name")
    @classmethod
    def _qualified_name(cls, name: str) -> str:
        error = qualified_name_error(name)
        if error is not None:
            raise ValueError(error)
        return name

    @field_validator("value", mode="before")
    @classmethod
    def _compact(cls, value: Any) -> str:
        return compact_json(value)


class Report(BaseModel):
    """A Spartakus v1 report. Unknown top-level fields are ignored, as the original collector did."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    version: str = UNKNOWN_VERSION
    # Validated even when absent, so that a report without one gets the receive time.
    timestamp: str = Field(default="", validate_default=True)
    cluster_id: Annotated[str, Field(min_length=1, max_length=CLUSTER_ID_MAX)] = Field(alias="clusterID")
    master_version: str | None = Field(default=None, alias="masterVersion")
    nodes: Annotated[list[Node] | None, Field(fail_fast=True)] = None
    extensions: Annotated[list[Extension] | None, Field(fail_fast=True)] = None
    report_id: ReportId | None = Field(default=None, alias="reportID")

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return UNKNOWN_VERSION if value is None or value == "" else value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: Any, info: ValidationInfo) -> str:
        received_at = _received_seconds(info)
        if isinstance(value, bool):
            return str(received_at)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _TIMESTAMP_DIGITS_MAX:
            seconds = int(value)
        elif isinstance(value, int):
            seconds = value
        else:
            return str(received_at)
        if _EARLIEST_TIMESTAMP <= seconds <= received_at + _FUTURE_SLACK_SECONDS:
            return str(seconds)
        return str(received_at)

    @model_validator(mode="after")
    def _fill_report_id(self) -> Report:
        if self.report_id is None:
            object.__setattr__(self, "report_id", derive_report_id(self.cluster_id, self.timestamp))
        return self

    @property
    def id(self) -> str:
        """The report id: the sender's ``reportID`` or the one derived from cluster and timestamp."""
        if self.report_id is None:  # the after-validator always fills it
            raise RuntimeError("report id missing after validation")
        return self.report_id


class StoredReport(Report):
    """A report as the collector stores it: the wire report plus when the gateway received it."""

    received_at: datetime | None = Field(default=None, alias="receivedAt")


class ReportRow(StoredReport):
    """One row of the reports table: a whole report, or one slice of the nodes of a report too large for one row.

    A slice carries every other column of its report; ``part`` (0-based) and
    ``parts`` say which slice it is. Rows of ordinary reports leave both out.
    """

    part: int | None = None
    parts: int | None = None


def _received_seconds(info: ValidationInfo) -> int:
    context = info.context or {}
    received = context.get("received_at")
    if isinstance(received, datetime):
        return int(received.timestamp())
    return int(time.time())


def derive_report_id(cluster_id: str, timestamp: str) -> str:
    """The deterministic id of a report that carries no ``reportID``.

    A retried POST and a redelivered message carry the same cluster id and
    timestamp, so they get the same id and the dedup view keeps one row.
    """
    # The length prefix keeps the pair unambiguous whatever the cluster id contains.
    name = f"{len(cluster_id)}:{cluster_id}{timestamp}".encode()
    # uuid.uuid5, without building a UUID object: this runs once per request.
    digest = bytearray(hashlib.sha1(_REPORT_ID_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def parse_report(raw: bytes | bytearray | str, *, received_at: datetime | None = None) -> Report:
    """Validate a report straight from JSON bytes.

    A missing, empty or implausible ``timestamp`` becomes ``received_at`` (now,
    if not given), in Unix seconds.

    Raises:
        pydantic.ValidationError: on malformed JSON or a schema violation.
    """
    context = {"received_at": received_at or datetime.now(UTC)}
    return Report.model_validate_json(raw, context=context)


def dump_report(report: Report) -> bytes:
    """Serialise a report as compact wire JSON, leaving out what is empty."""
    return report.model_dump_json(by_alias=True, exclude_none=True).encode()
