"""Hostile request bodies, built cheaply."""

from __future__ import annotations

import struct
import zlib

_MIB = 1024 * 1024


def gzip_bomb(inflated_mib: int) -> bytes:
    """A gzip body that inflates to ``inflated_mib`` MiB of zeros, about 1,000 times smaller than that.

    The same fully flushed deflate block, repeated, is a valid stream; building
    it costs one compression of 1 MiB instead of compressing the whole size.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(bytes(_MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH)
    crc = 0
    zeros = bytes(_MIB)
    for _ in range(inflated_mib):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (inflated_mib * _MIB) & 0xFFFFFFFF)
    return header + block * inflated_mib + final + trailer


def nested(depth: int) -> bytes:
    """A report whose extension value nests ``depth`` arrays deep."""
    return b'{"clusterID":"x","junk":' + b"[" * depth + b"]" * depth + b"}"
