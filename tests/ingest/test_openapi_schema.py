"""The API description states the extension-key rule exactly as the gateway applies it (unit test, no broker)."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ingest.openapi import openapi_document
from schema.report import qualified_name_error


def _name_schema() -> dict[str, Any]:
    schemas = openapi_document("test")["components"]["schemas"]
    name: dict[str, Any] = schemas["Extension"]["properties"]["name"]
    return name


NAME_SCHEMA = _name_schema()
VALIDATOR = jsonschema.Draft202012Validator(NAME_SCHEMA)

key_characters = st.sampled_from([*"abzAZ09-_./", "\n", " ", "é", ":"])
keys = st.one_of(
    st.text(key_characters, max_size=80),
    st.from_regex(re.compile(NAME_SCHEMA["pattern"]), fullmatch=True),
    st.builds(
        lambda label, n, name: f"{label * n}/{name}",
        st.sampled_from(["a", "a.", "ab"]),
        st.integers(60, 260),
        st.text(key_characters, min_size=1, max_size=70),
    ),
)


@settings(max_examples=400, deadline=None, database=None)
@given(key=keys)
@example(key="a" * 253 + "/b")
@example(key="a" * 254 + "/b")
@example(key="b" * 63)
@example(key="b" * 64)
@example(key="example.com/key\n")
@example(key="/name")
@example(key="a/b/c")
@example(key="Example.com/key")
def test_the_described_extension_key_pattern_accepts_exactly_the_keys_the_gateway_accepts(key: str) -> None:
    assert VALIDATOR.is_valid(key) == (qualified_name_error(key) is None), key
