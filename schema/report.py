"""Pydantic models of the Spartakus v1 report, as the original Go volunteer sends it.

The wire names are camelCase. Optional fields are omitted when empty on the
way out (``dump_report``), exactly as the Go volunteer's ``omitempty`` did, so
that an original collector accepts what our volunteer sends.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
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

REPORT_ID_PREFIX: Final = "sha256-"
"""Report ids are this and the hex SHA-256 of the normalised report (``content_report_id``)."""

ORIGINAL_PROVIDERS: Final = frozenset(
    {"aws", "azure", "cloudstack", "gce", "mesos", "openstack", "ovirt", "photon", "rackspace", "vsphere"}
)
"""The original volunteer's whitelist of providerID schemes."""
PUBLIC_PROVIDERS: Final = ORIGINAL_PROVIDERS | frozenset(
    {
        "civo",  # Civo
        "digitalocean",  # DigitalOcean Kubernetes
        "equinixmetal",  # Equinix Metal
        "exoscale",  # Exoscale SKS
        "hcloud",  # Hetzner Cloud
        "ibm",  # IBM Cloud Kubernetes Service
        "linode",  # Akamai / Linode LKE
        "oci",  # Oracle Cloud Infrastructure (OKE)
        "packet",  # Equinix Metal's former name, still used by older controllers
        "scaleway",  # Scaleway Kapsule
        "vultr",  # Vultr VKE
    }
)
"""The schemes this project's volunteer reports by name; any other scheme it reports as ``unknown``."""
UNKNOWN_PROVIDER: Final = "unknown"
OTHER_PROVIDER: Final = "other"
KNOWN_PROVIDERS: Final = PUBLIC_PROVIDERS | frozenset(
    {
        "alicloud",  # Alibaba Cloud ACK
        "hetzner",  # Hetzner (older cloud controllers)
        "huaweicloud",  # Huawei Cloud CCE
        "kind",  # kind, which other volunteers may report
        "ovhcloud",  # OVHcloud Managed Kubernetes
        "tencentcloud",  # Tencent Kubernetes Engine
        UNKNOWN_PROVIDER,
        OTHER_PROVIDER,
    }
)
"""``cloudProvider`` values stored as sent; any other value is stored as ``other``, never as free text."""

_DNS1123_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_RE: Final = re.compile(rf"{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*")
_QUALIFIED_NAME_RE: Final = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_PREFIX_MAX: Final = 253
_NAME_MAX: Final = 63
_KEY_MAX: Final = _PREFIX_MAX + 1 + _NAME_MAX

EXTENSION_KEY_SCHEMA: Final[dict[str, Any]] = {
    # The rule of ``qualified_name_error`` in JSON Schema, for the API description. Its
    # patterns work alike in ECMA 262 and Python: the second bounds the prefix without a
    # lookahead, and "not newline" stands in for an end anchor that Python's "$" lacks.
    "pattern": rf"^(?:{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*/)?"
    rf"[A-Za-z0-9](?:[-A-Za-z0-9_.]{{0,{_NAME_MAX - 2}}}[A-Za-z0-9])?$",
    "allOf": [{"pattern": rf"^(?:[^/]{{1,{_PREFIX_MAX}}}/)?[^/]*$"}],
    "not": {"pattern": "\n"},
    "maxLength": _KEY_MAX,
    "description": "A Kubernetes qualified name: an optional DNS-1123 subdomain prefix of at most "
    f"{_PREFIX_MAX} characters and '/', then a name of 1-{_NAME_MAX} characters of [A-Za-z0-9-_.], "
    "starting and ending with a letter or digit.",
}
"""The extension key rule as JSON Schema keywords."""

ReportId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


def qualified_name_error(key: str) -> str | None:
    """Explain why ``key`` breaks the Kubernetes qualified-name rule, or return None if it is valid."""
    # A sender repeats its keys in every report: the answers for recent keys of plausible length are kept.
    return _cached_key_error(key) if len(key) <= _KEY_MAX else _key_error(key)


@functools.lru_cache(maxsize=4096)
def _cached_key_error(key: str) -> str | None:
    return _key_error(key)


def _key_error(key: str) -> str | None:
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

    @field_validator("cloud_provider")
    @classmethod
    def _known_provider(cls, value: str | None) -> str | None:
        # A provider name is free text on the wire; only names on the list may reach the figures.
        return value if value is None or value in KNOWN_PROVIDERS else OTHER_PROVIDER


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
    def _fill_report_id(self, info: ValidationInfo) -> Report:
        # The gateway derives the id from the normalised body it builds anyway (``ingest.validation``).
        if self.report_id is None and not (info.context or {}).get("defer_report_id"):
            object.__setattr__(self, "report_id", derive_report_id(self))
        return self

    @property
    def id(self) -> str:
        """The report id: the ``reportID`` it carries, or the one derived from its content."""
        if self.report_id is None:  # the after-validator always fills it
            raise RuntimeError("report id missing after validation")
        return self.report_id


class StoredReport(Report):
    """A report as the collector stores it: the wire report plus when the gateway received it."""

    received_at: datetime | None = Field(default=None, alias="receivedAt")
    verified: bool | None = None
    """True when a signature proved the cluster id (``schema.signature``); False for unsigned reports."""


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


def content_report_id(normalised: bytes | bytearray) -> str:
    """The id of the report whose normalised wire JSON (``dump_report``, without ``reportID``) is ``normalised``.

    Two reports share an id only if they are byte-identical once normalised:
    a retried POST or a redelivered message counts once, and two different
    reports, whatever ``clusterID`` and ``timestamp`` they carry, never merge.
    """
    return REPORT_ID_PREFIX + hashlib.sha256(normalised).hexdigest()


def derive_report_id(report: Report) -> str:
    """The content id of ``report``, whatever ``reportID`` it carries."""
    return content_report_id(dump_report(report, with_id=False))


def parse_report(
    raw: bytes | bytearray | str, *, received_at: datetime | None = None, defer_report_id: bool = False
) -> Report:
    """Validate a report straight from JSON bytes.

    A missing, empty or implausible ``timestamp`` becomes ``received_at`` (now,
    if not given), in Unix seconds. ``defer_report_id`` leaves a missing
    ``reportID`` unset, for a caller that derives it from the bytes it dumps anyway.

    Raises:
        pydantic.ValidationError: on malformed JSON or a schema violation.
    """
    return Report.model_validate_json(raw, context=_context(received_at, defer_report_id))


def report_from_json_value(
    value: dict[str, Any], *, received_at: datetime | None = None, defer_report_id: bool = False
) -> Report:
    """Validate a report from the JSON document already parsed into Python values (as ``json.loads`` gives it).

    The same rules as ``parse_report``: given a document nested less than 200
    deep (pydantic's JSON limit), parsed by a parser that reads numbers as
    pydantic's does (orjson does for integers of up to 64 bits), it accepts and
    refuses alike, with the same report. Only the errors' wording differs:
    ``parse_report`` names JSON types ("a valid array" where this says "a valid list").

    Raises:
        pydantic.ValidationError: on a schema violation.
    """
    # The validator itself, without model_validate's wrapper: this runs for every report the gateway takes.
    report: Report = Report.__pydantic_validator__.validate_python(
        value, context=_context(received_at, defer_report_id)
    )
    return report


def _context(received_at: datetime | None, defer_report_id: bool) -> dict[str, object]:
    return {"received_at": received_at or datetime.now(UTC), "defer_report_id": defer_report_id}


_WIRE_ONLY: Final = frozenset(Report.model_fields) - {"report_id"}


def dump_report(report: Report, *, with_id: bool = True) -> bytes:
    """Serialise a report as compact wire JSON, leaving out what is empty.

    ``with_id=False`` gives the normalised wire report the id is derived from:
    the wire fields alone, without ``reportID`` or what the collector adds.
    """
    # The serializer's own bytes: model_dump_json would decode them to text, to be encoded again here.
    serializer = report.__pydantic_serializer__
    if with_id or report.report_id is None:  # an unset id is left out like every empty field
        return serializer.to_json(report, by_alias=True, exclude_none=True)
    return serializer.to_json(report, by_alias=True, exclude_none=True, include=set(_WIRE_ONLY))
