"""Server-sent events, sans I/O: a frame encoder and an incremental stream decoder.

The server side (the gateway's and the subgraph servers' SSE responses) and the
upstream client (``gateway.transports.sse``) share this module, so both ends agree
to the byte. Frames follow the graphql-sse protocol's distinct connections mode:
``event: next`` with one line of JSON, ``event: complete`` with empty data, and a
bare comment as heartbeat.

See https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "COMPLETE",
    "HEARTBEAT",
    "Comment",
    "Event",
    "SSEDecoder",
    "SSEProtocolError",
    "encode_event",
    "encode_next",
]

COMPLETE = b"event: complete\ndata: \n\n"
"""The graphql-sse ``complete`` frame: the stream ends normally."""

HEARTBEAT = b":\n\n"
"""An empty comment: keeps proxies and clients from timing an idle stream out."""

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORBIDDEN_IN_FIELD = re.compile(r"[\r\n\x00]")
_DIGITS = re.compile(r"[0-9]+")


class SSEProtocolError(ValueError):
    """The stream cannot be decoded (a line or an event over the configured limit)."""


# ---------------------------------------------------------------------------
# Encoding


def _check_field(name: str, value: str) -> None:
    if _FORBIDDEN_IN_FIELD.search(value):
        raise ValueError(f"SSE {name} must not contain CR, LF or NUL: {value!r}")


def encode_event(
    event: str | None,
    data: str,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """One event frame, terminated by the blank line.

    Each line of ``data`` (split at CRLF, CR or LF) becomes its own ``data:`` line,
    which a decoder joins back with LF. ``event`` and ``id`` cannot hold line breaks
    (or NUL, which makes decoders ignore an id): they raise ``ValueError``.
    See https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
    """
    parts: list[str] = []
    if event is not None:
        _check_field("event", event)
        parts.append(f"event: {event}\n")
    if id is not None:
        _check_field("id", id)
        parts.append(f"id: {id}\n")
    if retry is not None:
        if retry < 0:
            raise ValueError(f"SSE retry must be a non-negative integer: {retry}")
        parts.append(f"retry: {int(retry)}\n")
    for line in _LINE_BREAK.split(data):
        parts.append(f"data: {line}\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def encode_next(
    payload: Mapping[str, Any],
    id: str | int | None = None,
) -> bytes:
    """A graphql-sse ``next`` frame: ``payload`` as one line of JSON.

    JSON never holds a raw line break (orjson escapes them inside strings), so the
    payload is always a single ``data:`` line.
    """
    body = orjson.dumps(payload)
    if id is None:
        return b"event: next\ndata: " + body + b"\n\n"
    id_text = str(id)
    _check_field("id", id_text)
    return b"event: next\nid: " + id_text.encode("utf-8") + b"\ndata: " + body + b"\n\n"


# ---------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True, slots=True)
class Event:
    """A dispatched event.

    ``event`` is the type (``"message"`` when the frame named none); ``data`` is the
    data lines joined with LF; ``id`` is the last event id seen so far in the stream
    (ids persist across events, per the spec), ``""`` if none.
    """

    event: str
    data: str
    id: str = ""


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment line (``:...``); ``text`` is what follows the colon, as sent.

    Servers send comments as heartbeats; a decoder reports them so callers can count
    them as signs of life.
    """

    text: str


class SSEDecoder:
    """Turns a byte stream, fed in chunks of any size, into events and comments.

    Chunks may split the stream anywhere: inside a UTF-8 sequence, inside a line, or
    between the CR and LF of a CRLF. A leading byte order mark is dropped; CRLF, CR
    and LF all end a line. An event is dispatched only on a blank line, and only when
    it has data (a frame without ``data:`` lines is dropped, per the spec), unless
    ``dispatch_empty`` is set: then a frame that names an event type but carries no
    data is dispatched with ``data == ""`` (some servers end streams with a bare
    ``event: complete``).

    ``max_event_size`` (characters, ``None`` for no limit) bounds the memory one
    unfinished line or event may take; past it ``feed`` raises ``SSEProtocolError``.

    At end of stream call ``close()``: an unfinished event is discarded, per the
    spec, and ``close()`` returns ``True`` so the caller can treat it as truncation.
    See https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
    """

    __slots__ = (
        "_closed",
        "_data",
        "_data_size",
        "_dispatch_empty",
        "_event_type",
        "_has_fields",
        "_line_parts",
        "_line_size",
        "_max",
        "_skip_lf",
        "_started",
        "_utf8",
        "comments",
        "last_event_id",
        "retry",
    )

    def __init__(
        self, *, dispatch_empty: bool = False, max_event_size: int | None = None
    ) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._dispatch_empty = dispatch_empty
        self._max = max_event_size
        self._started = False  # the BOM check has been done
        self._skip_lf = False  # the last chunk ended with a CR
        self._closed = False
        self._line_parts: list[str] = []
        self._line_size = 0
        self._data: list[str] = []
        self._data_size = 0
        self._event_type = ""
        self._has_fields = False  # event/id/data lines seen since the last blank line
        self.last_event_id = ""
        """The last event id buffer: the id the next dispatched event will carry."""
        self.retry: int | None = None
        """The reconnection time (ms) the stream asked for, if it did."""
        self.comments = 0
        """How many comment lines were seen (heartbeats, for most servers)."""

    @property
    def pending(self) -> bool:
        """Whether an unfinished line or event is buffered."""
        return bool(self._line_parts or self._has_fields)

    def feed(self, chunk: bytes) -> list[Event | Comment]:
        """Decode ``chunk`` and return the events and comments it completed."""
        if self._closed:
            raise RuntimeError("SSEDecoder.feed() after close()")
        return self._feed_text(self._utf8.decode(chunk))

    def close(self) -> bool:
        """End of stream. Returns ``True`` when an unfinished event was discarded.

        A final line without its line break, or fields without the blank line that
        dispatches them, count as unfinished; a stream cut inside a UTF-8 sequence
        too.
        """
        if self._closed:
            return False
        tail = self._utf8.decode(b"", final=True)
        if tail:
            self._feed_text(tail)
        truncated = self.pending
        self._closed = True
        self._line_parts.clear()
        self._data.clear()
        self._event_type = ""
        self._has_fields = False
        return truncated

    def _feed_text(self, text: str) -> list[Event | Comment]:
        if not text:
            return []
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf and text:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        if not text:
            return []
        out: list[Event | Comment] = []
        start = 0
        for match in _LINE_BREAK.finditer(text):
            piece = text[start : match.start()]
            if self._line_parts:
                self._line_parts.append(piece)
                line = "".join(self._line_parts)
                self._line_parts.clear()
                self._line_size = 0
            else:
                line = piece
            start = match.end()
            self._process_line(line, out)
        if start < len(text):
            rest = text[start:]
            self._line_parts.append(rest)
            self._line_size += len(rest)
            self._check_size()
        elif text[-1] == "\r":
            # The CR may be the first half of a CRLF split across chunks.
            self._skip_lf = True
        return out

    def _check_size(self) -> None:
        if self._max is not None and self._line_size + self._data_size > self._max:
            raise SSEProtocolError(
                f"SSE event larger than {self._max} characters without a blank line"
            )

    def _process_line(self, line: str, out: list[Event | Comment]) -> None:
        if not line:
            self._dispatch(out)
            return
        if line[0] == ":":
            self.comments += 1
            out.append(Comment(line[1:]))
            return
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
            self._has_fields = True
            self._check_size()
        elif name == "event":
            self._event_type = value
            self._has_fields = True
        elif name == "id":
            if "\x00" not in value:
                self.last_event_id = value
            self._has_fields = True
        elif name == "retry":
            if _DIGITS.fullmatch(value):
                self.retry = int(value)
        # Any other field name is ignored, per the spec.

    def _dispatch(self, out: list[Event | Comment]) -> None:
        event_type = self._event_type
        data = self._data
        self._event_type = ""
        self._has_fields = False
        if not data:
            if self._dispatch_empty and event_type:
                out.append(Event(event_type, "", self.last_event_id))
            return
        text = "\n".join(data)
        self._data = []
        self._data_size = 0
        out.append(Event(event_type or "message", text, self.last_event_id))
