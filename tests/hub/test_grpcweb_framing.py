"""The gRPC-Web wire pieces (bucketfs.hub.grpcweb.framing), exercised with random splits."""

from __future__ import annotations

import base64
import itertools
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bucketfs.hub.grpcweb.framing import (
    HEADERS,
    FrameReader,
    FramingError,
    TextDecoder,
    frame,
    header_block,
    messages,
    metadata_from_headers,
    parse_header_block,
    parse_timeout,
    percent_encode,
    trailer_pairs,
)

payloads = st.lists(st.binary(max_size=300), max_size=8)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@given(payloads, st.lists(st.integers(min_value=0), max_size=10))
def test_frame_reader_any_split(items: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(p) for p in items)
    reader = FrameReader(max_length=1000)
    out = [m for chunk in _split(stream, cuts) for m in messages(reader, chunk)]
    assert out == items
    assert reader.pending == 0


def test_frame_reader_refuses_oversized_and_compressed_and_header_frames() -> None:
    with pytest.raises(FramingError, match="exceeds"):
        list(messages(FrameReader(max_length=10), frame(b"x" * 11)))
    with pytest.raises(FramingError, match="compressed"):
        list(messages(FrameReader(max_length=10), frame(b"x", 0x01)))
    with pytest.raises(FramingError, match="flag"):
        list(messages(FrameReader(max_length=10), frame(b"x", HEADERS)))


@given(payloads, st.lists(st.integers(min_value=0), max_size=10))
def test_text_decoder_padded_segments_any_split(items: list[bytes], cuts: list[int]) -> None:
    # each frame base64-encoded on its own, as a client or our server writes them: padding
    # may stand in the middle of the body
    body = b"".join(base64.b64encode(frame(p)) for p in items)
    decoder = TextDecoder()
    out = b"".join(decoder.feed(chunk) for chunk in _split(body, cuts))
    decoder.finish()
    assert out == b"".join(frame(p) for p in items)


def test_text_decoder_refuses_garbage_and_truncation() -> None:
    with pytest.raises(FramingError):
        TextDecoder().feed(b"AB*D")
    decoder = TextDecoder()
    decoder.feed(b"QUJD" + b"RA")
    with pytest.raises(FramingError, match="truncated"):
        decoder.finish()


header_keys = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)
header_values = st.from_regex(r"[!-~]([ -~]{0,40}[!-~])?", fullmatch=True)


@given(st.lists(st.tuples(header_keys, header_values), max_size=8))
def test_header_block_round_trip(pairs: list[tuple[str, str]]) -> None:
    assert parse_header_block(header_block(pairs)) == pairs


def test_parse_header_block_lowercases_and_refuses_non_headers() -> None:
    block = b"X-Textile-Api-Key: abc\r\nAuthorization: bearer t.o.k\r\n\r\n"
    assert parse_header_block(block) == [
        ("x-textile-api-key", "abc"),
        ("authorization", "bearer t.o.k"),
    ]
    with pytest.raises(FramingError):
        parse_header_block(b"no colon here\r\n")


def test_metadata_passes_textile_headers_unchanged_and_drops_http_plumbing() -> None:
    headers = [
        ("Host", "h"),
        ("Content-Type", "application/grpc-web+proto"),
        ("X-Grpc-Web", "1"),
        ("Origin", "http://example"),
        ("Sec-WebSocket-Key", "k"),
        ("x-textile-api-key", "KEY"),
        ("x-textile-api-sig", "SIG=="),
        ("x-textile-api-sig-msg", "2026-12-08T03:00:00.000Z"),
        ("authorization", "bearer A.B.C"),
        ("x-textile-thread", "bafk"),
        ("x-textile-thread-name", "my thread"),
        ("x-custom-bin", base64.b64encode(b"\x00\xff").decode().rstrip("=")),
        ("grpc-timeout", "1500m"),
    ]
    metadata, timeout = metadata_from_headers(headers)
    assert metadata == [
        ("x-textile-api-key", "KEY"),
        ("x-textile-api-sig", "SIG=="),
        ("x-textile-api-sig-msg", "2026-12-08T03:00:00.000Z"),
        ("authorization", "bearer A.B.C"),
        ("x-textile-thread", "bafk"),
        ("x-textile-thread-name", "my thread"),
        ("x-custom-bin", b"\x00\xff"),
    ]
    assert timeout == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("text", "seconds"), [("1H", 3600), ("2M", 120), ("3S", 3), ("4m", 0.004), ("5u", 5e-6)]
)
def test_parse_timeout(text: str, seconds: float) -> None:
    assert parse_timeout(text) == pytest.approx(seconds)


@given(st.text(max_size=60))
def test_percent_encoding_round_trips_through_decode_uri_component(message: str) -> None:
    encoded = percent_encode(message)
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    assert urllib.parse.unquote(encoded, errors="strict") == message


def test_trailer_pairs() -> None:
    assert trailer_pairs(0, "", []) == [("grpc-status", "0")]
    assert trailer_pairs(5, "no such bucket: é", [("x-bin", b"\x01")]) == [
        ("grpc-status", "5"),
        ("grpc-message", "no such bucket: %C3%A9"),
        ("x-bin", "AQ"),
    ]
