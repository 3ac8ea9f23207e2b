"""Byte-level tests of the SSE encoder and decoder (gateway.sse)."""

from __future__ import annotations

import orjson
import pytest

from gateway.sse import (
    COMPLETE,
    HEARTBEAT,
    Comment,
    Event,
    SSEDecoder,
    SSEProtocolError,
    encode_event,
    encode_next,
)


def decode_all(*chunks: bytes, **options: object) -> tuple[list[Event | Comment], bool]:
    decoder = SSEDecoder(**options)  # type: ignore[arg-type]
    out: list[Event | Comment] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out, decoder.close()


def events(*chunks: bytes, **options: object) -> list[Event]:
    out, _ = decode_all(*chunks, **options)
    return [item for item in out if isinstance(item, Event)]


# A stream exercising every rule at once: BOM, CRLF, CR, LF, multi-byte UTF-8,
# comments, ids (persisting, with NUL ignored), retry, fields without colon.
RICH_STREAM = (
    "\ufeff: hello\r\n"
    "event: next\r\n"
    "id: 1\r\n"
    'data: {"x": "h\u00e9llo \U0001f600"}\r\n'
    "\r\n"
    "data: line one\rdata: line two\r\r"
    "retry: 2500\n"
    "id: bad\x00id\n"
    "data\n"
    "data:  leading space kept once\n"
    "\n"
    ":\n"
    "event: complete\n"
    "data: \n"
    "\n"
).encode()

RICH_EXPECTED: list[Event | Comment] = [
    Comment(" hello"),
    Event("next", '{"x": "h\u00e9llo \U0001f600"}', "1"),
    Event("message", "line one\nline two", "1"),
    Event("message", "\n leading space kept once", "1"),
    Comment(""),
    Event("complete", "", "1"),
]


# --- encoder ----------------------------------------------------------------


def test_encode_next_is_one_json_line_framed_by_a_blank_line() -> None:
    frame = encode_next({"data": {"text": "a\nb\r\nc"}})
    assert frame == b'event: next\ndata: {"data":{"text":"a\\nb\\r\\nc"}}\n\n'


def test_encode_next_with_id_puts_the_id_before_the_data() -> None:
    assert (
        encode_next({"data": None}, id=7)
        == b'event: next\nid: 7\ndata: {"data":null}\n\n'
    )


def test_complete_and_heartbeat_frames_are_the_graphql_sse_bytes() -> None:
    assert COMPLETE == b"event: complete\ndata: \n\n"
    assert encode_event("complete", "") == COMPLETE
    assert HEARTBEAT == b":\n\n"


def test_encode_event_splits_multi_line_data_into_data_lines() -> None:
    frame = encode_event("note", "a\nb\r\nc\rd")
    assert frame == b"event: note\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    assert events(frame) == [Event("note", "a\nb\nc\nd")]


def test_encode_event_writes_id_and_retry() -> None:
    frame = encode_event(None, "x", id="42", retry=1500)
    assert frame == b"id: 42\nretry: 1500\ndata: x\n\n"
    decoder = SSEDecoder()
    assert decoder.feed(frame) == [Event("message", "x", "42")]
    assert decoder.retry == 1500


@pytest.mark.parametrize("bad", ["1\n2", "1\r", "a\x00b"])
def test_encode_event_rejects_ids_that_would_break_the_frame(bad: str) -> None:
    with pytest.raises(ValueError, match="id"):
        encode_event("next", "x", id=bad)
    with pytest.raises(ValueError, match="id"):
        encode_next({}, id=bad)


def test_encode_event_rejects_event_names_with_line_breaks() -> None:
    with pytest.raises(ValueError, match="event"):
        encode_event("next\ndata: injected", "x")


def test_encode_event_rejects_negative_retry() -> None:
    with pytest.raises(ValueError, match="retry"):
        encode_event(None, "x", retry=-1)


def test_encoded_unicode_round_trips() -> None:
    payload = {"data": {"s": "\u2028 \U0001f600 \u00e9 \x00"}}
    [event] = events(encode_next(payload, id="\u00e9"))
    assert event.event == "next"
    assert event.id == "\u00e9"
    assert orjson.loads(event.data) == payload


# --- decoder: chunking ---------------------------------------------------------


def test_rich_stream_decodes_in_one_chunk() -> None:
    out, truncated = decode_all(RICH_STREAM)
    assert out == RICH_EXPECTED
    assert truncated is False


def test_rich_stream_decodes_the_same_when_split_at_every_byte_position() -> None:
    for position in range(len(RICH_STREAM) + 1):
        out, truncated = decode_all(RICH_STREAM[:position], RICH_STREAM[position:])
        assert out == RICH_EXPECTED, f"split at byte {position}"
        assert truncated is False


def test_rich_stream_decodes_the_same_fed_byte_by_byte() -> None:
    chunks = [RICH_STREAM[i : i + 1] for i in range(len(RICH_STREAM))]
    out, truncated = decode_all(*chunks)
    assert out == RICH_EXPECTED
    assert truncated is False


def test_crlf_split_between_cr_and_lf_is_one_line_break() -> None:
    # Were the split CRLF read as two breaks, the empty line would dispatch "a".
    assert events(b"data: a\r", b"\ndata: b\r\n\r\n") == [Event("message", "a\nb")]


def test_cr_alone_ends_lines() -> None:
    assert events(b"event: x\rdata: 1\r\rdata: 2\r\r") == [
        Event("x", "1"),
        Event("message", "2"),
    ]


def test_multi_byte_character_split_across_chunks() -> None:
    raw = "data: \U0001f600\u00e9\n\n".encode()
    assert events(raw[:7], raw[7:9], raw[9:]) == [Event("message", "\U0001f600\u00e9")]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert events(b"data: a\xffb\n\n") == [Event("message", "a\ufffdb")]


def test_bom_is_dropped_only_at_the_start_even_when_split() -> None:
    bom = "\ufeff".encode()
    assert events(bom[:1], bom[1:] + b"data: x\n\n") == [Event("message", "x")]
    # A BOM later in the stream is part of the line: the field name becomes
    # "\ufeffdata", which is unknown and ignored.
    assert events(b"data: x\n\n" + bom + b"data: y\n\n") == [Event("message", "x")]


# --- decoder: fields -------------------------------------------------------------


def test_multi_line_data_is_joined_with_lf() -> None:
    assert events(b"data: a\ndata: b\ndata: c\n\n") == [Event("message", "a\nb\nc")]


def test_space_after_colon_is_stripped_once() -> None:
    assert events(b"data:x\n\ndata:  y\n\n") == [
        Event("message", "x"),
        Event("message", " y"),
    ]


def test_field_without_colon_has_empty_value() -> None:
    assert events(b"data\n\ndata\ndata\n\n") == [
        Event("message", ""),
        Event("message", "\n"),
    ]


def test_event_type_resets_after_each_dispatch() -> None:
    assert events(b"event: next\ndata: 1\n\ndata: 2\n\n") == [
        Event("next", "1"),
        Event("message", "2"),
    ]


def test_unknown_fields_are_ignored() -> None:
    assert events(b"foo: bar\ndata: 1\nDATA: 2\n\n") == [Event("message", "1")]


def test_last_event_id_persists_and_ignores_ids_with_nul() -> None:
    decoder = SSEDecoder()
    out = decoder.feed(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\x003\ndata: c\n\n")
    assert out == [
        Event("message", "a", "1"),
        Event("message", "b", "1"),
        Event("message", "c", "1"),
    ]
    assert decoder.last_event_id == "1"
    assert decoder.feed(b"id\ndata: d\n\n") == [Event("message", "d", "")]


def test_retry_takes_only_ascii_digits() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 12a\nretry: -5\nretry: \xd9\xa3\n\n")
    assert decoder.retry is None
    decoder.feed(b"retry: 300\n\n")
    assert decoder.retry == 300


def test_comments_are_reported_and_counted() -> None:
    decoder = SSEDecoder()
    out = decoder.feed(HEARTBEAT + b": keep-alive\n" + HEARTBEAT)
    assert out == [Comment(""), Comment(" keep-alive"), Comment("")]
    assert decoder.comments == 3


def test_frame_without_data_is_not_dispatched() -> None:
    assert events(b"event: complete\n\n") == []


def test_dispatch_empty_option_dispatches_a_bare_event_type() -> None:
    assert events(b"event: complete\n\n", dispatch_empty=True) == [
        Event("complete", "")
    ]
    # Still nothing for a frame with neither type nor data.
    assert events(b"id: 3\n\n", dispatch_empty=True) == []


def test_graphql_sse_stream_decodes_to_next_and_complete() -> None:
    stream = encode_next({"data": {"n": 1}}, id=1) + HEARTBEAT + COMPLETE
    out, truncated = decode_all(stream)
    assert out == [
        Event("next", '{"data":{"n":1}}', "1"),
        Comment(""),
        Event("complete", "", "1"),
    ]
    assert truncated is False


# --- decoder: end of stream ------------------------------------------------------


def test_incomplete_event_at_eof_is_discarded_and_reported() -> None:
    out, truncated = decode_all(b"data: 1\n\nevent: next\ndata: 2\n")
    assert out == [Event("message", "1")]
    assert truncated is True


def test_last_line_without_line_break_is_pending_at_eof() -> None:
    out, truncated = decode_all(b"data: 1\n\n: trailing comment")
    assert out == [Event("message", "1")]
    assert truncated is True


def test_eof_inside_a_utf8_sequence_is_truncation() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\n\xf0\x9f") == [Event("message", "1")]
    assert decoder.close() is True


def test_clean_end_after_a_comment_is_not_truncation() -> None:
    _, truncated = decode_all(b"data: 1\n\n:\n")
    assert truncated is False
    _, truncated = decode_all(b"")
    assert truncated is False


def test_pending_tracks_an_unfinished_frame() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: 1\n")
    assert decoder.pending
    decoder.feed(b"\n")
    assert not decoder.pending


def test_feed_after_close_is_an_error() -> None:
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(RuntimeError):
        decoder.feed(b"data: 1\n\n")


def test_max_event_size_bounds_an_unterminated_line() -> None:
    decoder = SSEDecoder(max_event_size=16)
    decoder.feed(b"data: 0123456789")
    with pytest.raises(SSEProtocolError):
        decoder.feed(b"abcdefgh")


def test_max_event_size_bounds_an_event_of_many_lines() -> None:
    decoder = SSEDecoder(max_event_size=16)
    with pytest.raises(SSEProtocolError):
        decoder.feed(b"data: 0123456\ndata: 0123456\ndata: 0\n")


def test_max_event_size_resets_after_each_event() -> None:
    decoder = SSEDecoder(max_event_size=16)
    for _ in range(10):
        assert decoder.feed(b"data: 0123456789\n\n") == [Event("message", "0123456789")]
