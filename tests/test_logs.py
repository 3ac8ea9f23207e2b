"""Log formats and request ids in errors."""

from __future__ import annotations

import json
import logging

from gateway.logs import (
    JsonFormatter,
    RequestIdFilter,
    TextFormatter,
    note_errors,
    stamp_request_id,
)
from gateway.metrics import RequestStats, track_request


def record(message: str = "hello", **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord(
        "gateway.test", logging.WARNING, "f", 1, message, (), None
    )
    for key, value in extra.items():
        setattr(entry, key, value)
    return entry


def test_stamping_copies_errors_shared_with_a_cache() -> None:
    cached = [{"message": "bad", "extensions": {"code": "X"}}]
    body = {"errors": cached}
    stamped = stamp_request_id(body, "id-1")
    assert stamped["errors"][0]["extensions"] == {"code": "X", "requestId": "id-1"}
    assert cached == [{"message": "bad", "extensions": {"code": "X"}}]


def test_errors_outside_a_request_are_left_alone() -> None:
    body = {"errors": [{"message": "bad"}]}
    assert note_errors(body) is body


def test_errors_of_a_request_carry_its_id_and_are_counted() -> None:
    stats = RequestStats(request_id="id-2")
    with track_request(stats):
        body = note_errors({"data": None, "errors": [{"message": "m"}]})
    assert body["errors"][0]["extensions"]["requestId"] == "id-2"
    assert stats.error_codes == ["UNKNOWN"]


def test_every_line_logged_during_a_request_names_it() -> None:
    entry = record()
    with track_request(RequestStats(request_id="id-3")):
        RequestIdFilter().filter(entry)
    assert TextFormatter().format(entry).endswith("hello request_id=id-3")
    outside = record()
    RequestIdFilter().filter(outside)
    assert "request_id" not in TextFormatter().format(outside)


def test_json_lines_hold_the_access_fields() -> None:
    entry = record(access={"status": 200, "path": "/graphql"}, request_id="id-4")
    line = json.loads(JsonFormatter().format(entry))
    assert line["level"] == "warning" and line["logger"] == "gateway.test"
    assert line["status"] == 200 and line["path"] == "/graphql"
    assert line["request_id"] == "id-4"
    assert line["time"].endswith("Z")


def test_colour_wraps_the_head_only() -> None:
    text = TextFormatter(colour=True).format(record())
    assert text.startswith("\x1b[33m") and text.endswith(": hello")
