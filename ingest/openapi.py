"""The OpenAPI 3.1 description served at ``/openapi.json``.

Written by hand, because the gateway is a plain ASGI app; the report schema
itself comes from the ``schema`` models, so it cannot drift from what is
validated.
"""

from __future__ import annotations

import json
from typing import Any

from schema.report import Report

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "details"],
    "properties": {
        "error": {"type": "string", "description": "One-line summary."},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "message": {"type": "string"},
                    "field": {"type": "string", "description": "JSONPath-like location, e.g. $.nodes[0].id (422)."},
                    "type": {"type": "string", "description": "Kind of violation (422)."},
                    "extension": {"type": "string", "description": "The offending extension key (422)."},
                },
            },
        },
    },
}


def _error(description: str, *, retry: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if retry:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
        }
    return response


def _status(description: str, *, ready: bool = False) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"status": {"type": "string"}, "reason": {"type": "string"}}}
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if ready:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return response


def _submit_operation() -> dict[str, Any]:
    return {
        "summary": "Submit a usage report (Spartakus v1)",
        "description": "Validated, published persistently to RabbitMQ, and answered 204 only after the broker "
        "confirmed it. Accepts Content-Encoding: gzip.",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Report"}}},
        },
        "parameters": [
            {
                "name": "Content-Encoding",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "enum": ["gzip", "identity"]},
            },
            {
                "name": "X-Spartakus-Signature",
                "in": "header",
                "required": False,
                "description": "Required for a self-certifying clusterID (ed25519-...): "
                "'ed25519=<base64url public key>; sig=<base64url Ed25519 signature>' over "
                "'spartakus report v1\\0' + the JSON body before gzip.",
                "schema": {"type": "string", "maxLength": 256},
            },
        ],
        "responses": {
            "204": {"description": "Stored: the broker confirmed the report."},
            "400": _error("Not strict JSON (invalid UTF-8, NaN, overflowing numbers, deep nesting), or bad gzip."),
            "413": _error(
                "The body exceeds a size cap (as sent, after gzip inflation), holds too many JSON objects and arrays "
                "or nodes, needs more memory than the gateway's whole budget, or stays over 16 MiB compressed."
            ),
            "401": _error("A self-certifying cluster id (ed25519-...) without X-Spartakus-Signature."),
            "403": _error("A signature by a key other than the cluster id's, or over other bytes than the body."),
            "415": _error("Content-Type is not application/json, or Content-Encoding is not gzip."),
            "422": _error("The report breaks the schema; details list the field paths."),
            "429": _error(
                "This cluster id reported a different report less than --min-report-interval ago, or this source "
                "introduced more than --new-clusters-per-source new cluster ids this hour; retry after Retry-After.",
                retry=True,
            ),
            "431": _error("The request line and headers exceed the gateway's limit (64 KiB by default)."),
            "503": _error(
                "The report was not stored: the broker could not confirm it, or the gateway is at its memory "
                "budget or its connection limit; retry after Retry-After seconds.",
                retry=True,
            ),
        },
    }


def openapi_document(version: str) -> dict[str, Any]:
    """The API description of gateway ``version``."""
    report_schema = Report.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    components = {"Report": report_schema, "Error": _ERROR_SCHEMA}
    components.update(report_schema.pop("$defs", {}))
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Spartakus ingest gateway", "version": version},
        "paths": {
            "/api/v1": {"post": _submit_operation()},
            "/healthz": {
                "get": {
                    "summary": "The process is alive and can recover from broker outages by itself",
                    "responses": {"200": _status("Alive."), "503": _status("Restart me.")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "The broker channel is open and not blocked",
                    "responses": {"200": _status("Ready."), "503": _status("Not ready.", ready=True)},
                }
            },
            "/version": {
                "get": {
                    "summary": "Gateway and report schema versions",
                    "responses": {"200": {"description": "Versions.", "content": {"application/json": {}}}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "Prometheus text format.", "content": text}},
                }
            },
            "/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1."}}}
            },
        },
        "components": {"schemas": components},
    }


def openapi_bytes(version: str) -> bytes:
    """``openapi_document`` as compact JSON."""
    return json.dumps(openapi_document(version), separators=(",", ":")).encode()
