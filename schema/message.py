"""The report message body on the queue: plain JSON, or gzip-compressed JSON above a size.

RabbitMQ 4.x refuses a message over ``MAX_MESSAGE_BYTES`` (its default
``max_message_size``) and closes the publishing channel, failing every other
publish in flight on it. A report's JSON compresses about 25-fold at level 1,
so the gateway compresses bodies above ``GZIP_ABOVE`` and marks them with the
AMQP property ``content_encoding: gzip``; every consumer reads both forms
through ``decode_body``. Plain functions, no AMQP client: this is the contract.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

GZIP: Final = "gzip"
"""The ``content_encoding`` of a compressed body; a body without one is plain JSON."""
MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
"""No message body may exceed this: RabbitMQ 4.x's default ``max_message_size``."""
GZIP_ABOVE: Final = 16 * 1024
"""Bodies larger than this are compressed.

Below it, compressing a body and publishing it plain cost about the same, so
small reports stay plain and readable; above it, compressing costs less than
the publishing it saves (the measurements are in the README's "Ingest
gateway" section).
"""
MAX_DECODED_BYTES: Final = 256 * 1024 * 1024
"""Most bytes a consumer inflates from one message; more is a broken message, not a report."""
_LEVEL: Final = 1
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS


class MessageTooLargeError(ValueError):
    """The body, even compressed, exceeds ``MAX_MESSAGE_BYTES``."""


class MessageEncodingError(ValueError):
    """A message body that cannot be decoded: an unknown encoding, or a broken or oversized gzip stream."""


@dataclass(frozen=True, slots=True)
class EncodedBody:
    """A message body and its AMQP ``content_encoding`` (None for plain JSON)."""

    body: bytes
    content_encoding: str | None


def encode_body(
    pieces: Iterable[bytes], *, gzip_above: int = GZIP_ABOVE, limit: int = MAX_MESSAGE_BYTES
) -> EncodedBody:
    """The concatenation of ``pieces`` as a message body, gzip-compressed once it grows past ``gzip_above``.

    The pieces are consumed one at a time, so a large body is never held
    uncompressed in one piece: a generator of slices costs only the output.

    Raises:
        MessageTooLargeError: the body would exceed ``limit`` bytes even compressed.
    """
    if isinstance(pieces, list) and len(pieces) == 1 and len(pieces[0]) <= gzip_above:
        return EncodedBody(pieces[0], None)  # the common case, a small report: nothing to do
    plain: list[bytes] = []
    size = 0
    compressor = None
    out: list[bytes] = []
    compressed = 0
    for piece in pieces:
        if compressor is None:
            plain.append(piece)
            size += len(piece)
            if size <= gzip_above:
                continue
            compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
            chunks, plain = plain, []
        else:
            chunks = [piece]
        for chunk in chunks:
            if output := compressor.compress(chunk):
                out.append(output)
                compressed += len(output)
        if compressed > limit:
            raise MessageTooLargeError(f"the message exceeds {limit} bytes even gzip-compressed")
    if compressor is None:
        return EncodedBody(plain[0] if len(plain) == 1 else b"".join(plain), None)
    out.append(compressor.flush())
    body = b"".join(out)
    if len(body) > limit:
        raise MessageTooLargeError(f"the message exceeds {limit} bytes even gzip-compressed")
    return EncodedBody(body, GZIP)


def decode_body(body: bytes, content_encoding: str | bytes | None, *, limit: int = MAX_DECODED_BYTES) -> bytes:
    """The JSON of a message body, inflating it when ``content_encoding`` is gzip.

    Raises:
        MessageEncodingError: an encoding other than gzip or none, a broken gzip stream, or more than ``limit`` bytes.
    """
    if isinstance(content_encoding, bytes):
        content_encoding = content_encoding.decode("latin-1")
    encoding = (content_encoding or "").strip().lower()
    if encoding in {"", "identity"}:
        return body
    if encoding != GZIP:
        raise MessageEncodingError(f"unsupported content_encoding {encoding[:50]!r}")
    inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise MessageEncodingError(f"broken gzip body: {e}") from e
    if len(data) > limit:
        raise MessageEncodingError(f"the gzip body inflates to more than {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise MessageEncodingError("broken gzip body: truncated, or data after the gzip stream")
    return data
