"""Message bodies: plain below the threshold, gzip above it, never over RabbitMQ's size limit (unit tests)."""

from __future__ import annotations

import gzip
import os

import pytest

from schema.message import (
    GZIP,
    MAX_MESSAGE_BYTES,
    MessageEncodingError,
    MessageTooLargeError,
    decode_body,
    encode_body,
)

REPORT = (
    b'{"clusterID":"c","nodes":['
    + b",".join([b'{"id":"5f4dcc3b5aa765d61d8327deb882cf99","osImage":"x"}'] * 3000)
    + b"]}"
)


def test_a_small_body_stays_plain_and_is_not_copied() -> None:
    body = b'{"clusterID":"c"}'

    encoded = encode_body([body])

    assert encoded.content_encoding is None
    assert encoded.body is body
    assert decode_body(encoded.body, encoded.content_encoding) is body


def test_a_large_body_is_gzip_and_decodes_to_the_pieces_joined() -> None:
    pieces = [REPORT[i : i + 1000] for i in range(0, len(REPORT), 1000)]

    encoded = encode_body(iter(pieces), gzip_above=4096)

    assert encoded.content_encoding == GZIP
    assert len(encoded.body) < len(REPORT) / 10
    assert gzip.decompress(encoded.body) == REPORT
    assert decode_body(encoded.body, "gzip") == REPORT
    assert decode_body(encoded.body, b"GZIP") == REPORT


def test_a_body_that_stays_over_the_limit_compressed_is_refused_before_it_is_all_compressed() -> None:
    consumed = []

    def incompressible() -> object:
        for _ in range(64):
            consumed.append(1)
            yield os.urandom(1024 * 1024)

    with pytest.raises(MessageTooLargeError):
        encode_body(incompressible(), limit=4 * 1024 * 1024)  # type: ignore[arg-type]

    assert len(consumed) < 10
    assert MAX_MESSAGE_BYTES == 16 * 1024 * 1024


@pytest.mark.parametrize(
    ("body", "encoding", "message"),
    [
        (b"{}", "br", "unsupported content_encoding"),
        (b"not gzip", "gzip", "broken gzip body"),
        (gzip.compress(b"{}", mtime=0)[:-4], "gzip", "truncated"),
        (gzip.compress(b"{}", mtime=0) + b"junk", "gzip", "data after"),
        (gzip.compress(bytes(2048), mtime=0), "gzip", "more than 1024 bytes"),
    ],
)
def test_an_undecodable_body_is_an_error_that_says_why(body: bytes, encoding: str, message: str) -> None:
    with pytest.raises(MessageEncodingError, match=message):
        decode_body(body, encoding, limit=1024)
