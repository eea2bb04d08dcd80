"""Body reading: media type, raw and inflated size caps, gzip errors (unit tests, no server)."""

from __future__ import annotations

import asyncio
import gzip
import resource
import time
from collections.abc import MutableMapping
from typing import Any

import pytest

from ingest.body import (
    INFLATE_SLICE,
    BodyLimits,
    ClientDisconnectedError,
    check_media_type,
    content_length,
    is_gzip,
    read_body,
)
from ingest.errors import RequestError
from tests.ingest.hostile import gzip_bomb

LIMITS = BodyLimits(max_raw=2 * 1024 * 1024, max_decompressed=256 * 1024)


class Stream:
    """An ASGI receive callable over ``chunks``; counts how many it handed out."""

    def __init__(self, chunks: list[bytes], *, disconnect: bool = False) -> None:
        self.chunks = chunks
        self.read = 0
        self.disconnect = disconnect

    async def __call__(self) -> MutableMapping[str, Any]:
        if self.read == len(self.chunks):
            return {"type": "http.disconnect"}
        self.read += 1
        more = self.read < len(self.chunks) or self.disconnect
        return {"type": "http.request", "body": self.chunks[self.read - 1], "more_body": more}


def read(
    stream: Stream, *, gzip: bool = False, declared: int | None = None, limits: BodyLimits = LIMITS
) -> bytes | bytearray:
    counted: list[int] = []
    body, received = asyncio.run(read_body(stream, declared=declared, gzip=gzip, limits=limits, count=counted.append))
    assert received == sum(counted)
    return body


def error_of(stream: Stream, **kwargs: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        read(stream, **kwargs)
    return caught.value


@pytest.mark.parametrize(
    "content_type",
    [b"application/json", b"application/json; charset=utf-8", b"Application/JSON ;charset=UTF-8", b" application/json"],
)
def test_json_media_type_is_accepted_whatever_its_parameters(content_type: bytes) -> None:
    check_media_type(content_type)


@pytest.mark.parametrize("content_type", [None, b"", b"text/plain", b"application/jsonx", b"application/x-json"])
def test_any_other_media_type_is_415(content_type: bytes | None) -> None:
    with pytest.raises(RequestError) as caught:
        check_media_type(content_type)
    assert caught.value.status == 415


def test_gzip_and_identity_encodings_are_understood_and_others_are_415() -> None:
    assert is_gzip(b"gzip")
    assert is_gzip(b"X-GZIP")
    assert not is_gzip(None)
    assert not is_gzip(b"identity")
    with pytest.raises(RequestError) as caught:
        is_gzip(b"br")
    assert caught.value.status == 415


def test_a_malformed_content_length_is_400() -> None:
    assert content_length(b"12") == 12
    assert content_length(None) is None
    with pytest.raises(RequestError) as caught:
        content_length(b"twelve")
    assert caught.value.status == 400


def test_chunks_are_joined_and_a_single_chunk_is_returned_as_is() -> None:
    assert read(Stream([b'{"a":', b"1}"])) == b'{"a":1}'
    single = b'{"clusterID":"x"}'
    assert read(Stream([single])) is single


def test_a_declared_length_over_the_cap_is_413_before_reading_anything() -> None:
    stream = Stream([b"x" * 10])
    error = error_of(stream, declared=LIMITS.max_raw + 1)
    assert (error.status, error.close, stream.read) == (413, True, 0)


def test_a_streamed_body_over_the_cap_is_cut_off_at_the_chunk_that_crosses_it() -> None:
    stream = Stream([b"x" * 16 * 1024] * 1000)  # 16 MB on offer, the cap is 2 MiB
    error = error_of(stream, limits=BodyLimits(max_raw=LIMITS.max_raw, max_decompressed=2 * LIMITS.max_raw))
    assert error.status == 413
    assert error.close
    assert stream.read == LIMITS.max_raw // (16 * 1024) + 1


def test_gzip_is_inflated_across_chunk_boundaries() -> None:
    document = b'{"clusterID":"x","pad":"' + b"y" * 100_000 + b'"}'
    packed = gzip.compress(document)
    chunks = [packed[i : i + 7] for i in range(0, len(packed), 7)]
    assert read(Stream(chunks), gzip=True) == document


def test_a_gzip_bomb_is_413_after_bounded_work_with_flat_memory() -> None:
    packed = gzip_bomb(1024)  # 1 GiB of zeros in about 1 MB; the inflated cap is 256 KiB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    error = error_of(Stream([packed[i : i + 65536] for i in range(0, len(packed), 65536)]), gzip=True)
    elapsed = time.perf_counter() - started
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert error.status == 413
    assert error.close
    assert "inflated body exceeds" in str(error.details[0]["message"])
    assert elapsed < 0.5
    assert grown_kib < 16 * 1024


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not gzip at all", "incorrect header check"),
        (gzip.compress(b'{"clusterID":"x"}', mtime=0)[:-6], "truncated"),
        (gzip.compress(b"{}", mtime=0) + b"junk", "data after the end"),
    ],
)
def test_broken_gzip_is_400(body: bytes, problem: str) -> None:
    error = error_of(Stream([body]), gzip=True)
    assert error.status == 400
    assert problem in str(error.details[0]["message"])


def test_a_client_that_hangs_up_mid_body_is_reported_as_gone() -> None:
    with pytest.raises(ClientDisconnectedError):
        read(Stream([b'{"clus'], disconnect=True))


def test_the_inflated_cap_also_bounds_a_plain_body() -> None:
    limits = BodyLimits(max_raw=1024 * 1024, max_decompressed=1000)

    with pytest.raises(RequestError) as caught:
        asyncio.run(read_body(Stream([b" " * 1001]), declared=None, gzip=False, limits=limits, count=lambda _n: None))

    assert caught.value.status == 413


def test_a_large_gzip_body_is_inflated_in_slices_with_the_event_loop_free_between_them() -> None:
    limits = BodyLimits(max_raw=2 * 1024 * 1024, max_decompressed=64 * 1024 * 1024)
    document = b'{"clusterID":"c","pad":"' + b"x" * (8 * 1024 * 1024) + b'"}'

    async def inflate_beside_a_ticker() -> tuple[bytes | bytearray, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        stream = Stream([gzip.compress(document)])
        body, _ = await read_body(stream, declared=None, gzip=True, limits=limits, count=lambda _size: None)
        done.set()
        await task
        return body, ticks

    body, ticks = asyncio.run(inflate_beside_a_ticker())

    assert body == document
    # 8 MiB in slices of 256 KiB: the other task ran between every two of them.
    assert ticks >= len(document) // INFLATE_SLICE - 1


def test_a_bomb_is_refused_at_the_cap_in_slices_too() -> None:
    limits = BodyLimits(max_raw=2 * 1024 * 1024, max_decompressed=3 * INFLATE_SLICE + 7)

    refusal = error_of(Stream([gzip_bomb(8)]), gzip=True, limits=limits)

    assert refusal.status == 413
