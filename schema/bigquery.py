"""The BigQuery table schema, generated from the report models.

The committed ``reports.bigquery.json`` (bq CLI JSON format) is this module's
output; a test fails when the two drift apart. Run
``python -m schema.bigquery > schema/reports.bigquery.json`` after changing a model.
"""

from __future__ import annotations

import json
import sys
import types
from datetime import datetime
from importlib import resources
from typing import Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel
from typing_extensions import is_typeddict

from schema.report import ReportRow

SCHEMA_FILE = "reports.bigquery.json"

FieldSchema = dict[str, Any]


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _strip_annotated(annotation: Any) -> Any:
    while hasattr(annotation, "__metadata__"):
        annotation = get_args(annotation)[0]
    return annotation


def _column(name: str, annotation: Any, *, required: bool) -> FieldSchema:
    annotation = _strip_annotated(annotation)
    inner, optional = _unwrap_optional(annotation)
    inner = _strip_annotated(inner)
    if get_origin(inner) is list:
        (item,) = get_args(inner)
        return {"fields": _record_fields(_strip_annotated(item)), "mode": "REPEATED", "name": name, "type": "RECORD"}
    mode = "REQUIRED" if required and not optional else "NULLABLE"
    if inner is bool:
        return {"mode": mode, "name": name, "type": "BOOLEAN"}
    if inner is str:
        return {"mode": mode, "name": name, "type": "STRING"}
    if inner is int:
        return {"mode": mode, "name": name, "type": "INTEGER"}
    if inner is datetime:
        return {"mode": mode, "name": name, "type": "TIMESTAMP"}
    raise TypeError(f"no BigQuery type for field {name!r}: {annotation!r}")


def _record_fields(model: Any) -> list[FieldSchema]:
    if is_typeddict(model):
        hints = get_type_hints(model, include_extras=True)
        return [_column(key, hint, required=key in model.__required_keys__) for key, hint in hints.items()]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [
            _column(info.alias or attr, info.annotation, required=info.is_required())
            for attr, info in model.model_fields.items()
        ]
    raise TypeError(f"cannot map {model!r} to a RECORD")


def _required_by_contract(schema: list[FieldSchema]) -> list[FieldSchema]:
    # version and timestamp have defaults in the model (an old volunteer may
    # leave them out) but are always filled before a row is written.
    for column in schema:
        if column["name"] in {"version", "timestamp"}:
            column["mode"] = "REQUIRED"
    return schema


def generate_table_schema() -> list[FieldSchema]:
    """The table schema for stored report rows, in the bq CLI's JSON format."""
    return _required_by_contract(_record_fields(ReportRow))


def render_table_schema() -> str:
    """The exact text of ``reports.bigquery.json``."""
    return json.dumps(generate_table_schema(), indent=2) + "\n"


def load_table_schema() -> list[FieldSchema]:
    """The committed table schema, as shipped with the package."""
    text = resources.files("schema").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: list[FieldSchema] = json.loads(text)
    return loaded


if __name__ == "__main__":
    sys.stdout.write(render_table_schema())
