"""From a page of Node objects, as the Kubernetes API serves it, to the compact nodes a report carries.

Only what the original volunteer sent leaves the cluster: the anonymised id,
the ``nodeInfo`` strings ``schema.report.Node`` names, the cloud provider's name and the capacity. Names,
addresses, labels, annotations, images and conditions never do.

A page is parsed straight from its raw bytes against the few fields read here
(``parse_node_list``): the parser skips everything else without building
Python objects for it, which is most of a Node (managed fields, images,
conditions) and most of the time a plain ``json.loads`` would spend.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from schema.report import PUBLIC_PROVIDERS, UNKNOWN_PROVIDER, Node

# The provider lists are the schema's, so that the gateway accepts every name the volunteer sends.
# PUBLIC_PROVIDERS are reported by name. Anything else, including local tools such as kind or k3s, is
# ``unknown``: a providerID scheme is free text, and only well-known public names may leave the cluster.

_NOT_FROM_NODE_INFO: Final = frozenset({"id", "cloudProvider", "capacity"})
INFO_FIELDS: Final = tuple(
    wire for name, info in Node.model_fields.items() if (wire := info.alias or name) not in _NOT_FROM_NODE_INFO
)
"""The report node's fields copied from ``status.nodeInfo`` (where the API spells them the same), in ``Node``'s
order, which is the order the original volunteer serialised them in."""

# The subset of a v1 NodeList that is read; wire names, as the API spells them. ``nodeInfo``'s keys are the ids
# that feed the anonymised id and ``INFO_FIELDS``: only listed keys are parsed, so its other keys (an object since
# Kubernetes 1.30 among them) cost nothing and cannot break a page.
if TYPE_CHECKING:
    NodeInfo = dict[str, str]
else:
    NodeInfo = TypedDict("NodeInfo", dict.fromkeys(("machineID", "systemUUID", *INFO_FIELDS), str), total=False)


class ObjectMeta(TypedDict, total=False):
    """``metadata`` of a Node: only its name, which feeds the anonymised id."""

    name: str


class NodeSpec(TypedDict, total=False):
    """``spec`` of a Node: only the providerID, whose scheme names the cloud."""

    providerID: str


class NodeStatus(TypedDict, total=False):
    """``status`` of a Node: ``nodeInfo`` and ``capacity``."""

    nodeInfo: NodeInfo
    capacity: dict[str, str]


class RawNode(TypedDict, total=False):
    """The fields of a Node object that a report is made from."""

    metadata: ObjectMeta
    spec: NodeSpec
    status: NodeStatus


ListMeta = TypedDict("ListMeta", {"continue": str}, total=False)


class NodeList(TypedDict, total=False):
    """One page of ``GET /api/v1/nodes``."""

    metadata: ListMeta
    items: list[RawNode] | None


_NODE_LIST: Final = TypeAdapter(NodeList)


def parse_node_list(raw: bytes) -> tuple[list[RawNode], str]:
    """The nodes of one raw NodeList page and its continue token (empty on the last page).

    Raises:
        ValueError: ``pydantic.ValidationError`` when ``raw`` is not JSON or not shaped like a NodeList.
    """
    page = _NODE_LIST.validate_json(raw)
    return page.get("items") or [], page.get("metadata", {}).get("continue", "")


def node_id(name: str, machine_id: str, system_uuid: str) -> str:
    """The original's anonymised node id: md5 hex of name, machineID and systemUUID, with no separator."""
    return hashlib.md5((name + machine_id + system_uuid).encode(), usedforsecurity=False).hexdigest()


def cloud_provider(provider_id: str) -> str:
    """The providerID's scheme if it is a known public provider, else ``unknown`` (also for an empty id)."""
    parts = provider_id.split("://")
    if len(parts) == 2 and parts[0] in PUBLIC_PROVIDERS:
        return parts[0]
    return UNKNOWN_PROVIDER


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def compact_node(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The report's node for one Node object: wire names, empty strings left out, capacity sorted.

    A field of an unexpected type is treated as absent, so one odd node cannot
    break a report.
    """
    status = _mapping(raw.get("status"))
    info = _mapping(status.get("nodeInfo"))
    name = _text(_mapping(raw.get("metadata")).get("name"))
    node: dict[str, Any] = {"id": node_id(name, _text(info.get("machineID")), _text(info.get("systemUUID")))}
    for key in INFO_FIELDS:
        value = info.get(key)
        if value and isinstance(value, str):
            node[key] = value
    node["cloudProvider"] = cloud_provider(_text(_mapping(raw.get("spec")).get("providerID")))
    capacity = _mapping(status.get("capacity"))
    # Quantities are sent as the API server renders them, which is already canonical.
    resources = [{"resource": k, "value": v} for k, v in sorted(capacity.items()) if isinstance(v, str)]
    if resources:
        node["capacity"] = resources
    return node
