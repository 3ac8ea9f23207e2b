"""Log formats: text (optionally coloured) or one JSON object a line, with request ids.

The CLI installs one of these formatters; every record logged while a request is
served carries that request's id (``RequestIdFilter`` reads it from the request's
``RequestStats``), and the access log's records carry their fields in
``record.access``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from gateway.metrics import current_stats

__all__ = [
    "ACCESS_LOGGER",
    "JsonFormatter",
    "RequestIdFilter",
    "TextFormatter",
    "note_errors",
    "stamp_request_id",
]

ACCESS_LOGGER = "gateway.access"

_COLOURS = {
    logging.DEBUG: "\x1b[2m",
    logging.INFO: "\x1b[32m",
    logging.WARNING: "\x1b[33m",
    logging.ERROR: "\x1b[31m",
    logging.CRITICAL: "\x1b[1;31m",
}
_RESET = "\x1b[0m"


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` to the id of the request being served (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            stats = current_stats()
            record.request_id = stats.request_id if stats is not None else None
        return True


class TextFormatter(logging.Formatter):
    """``time level logger: message [request_id]``; colours when ``colour``."""

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id and getattr(record, "access", None) is None:
            text = f"{text} request_id={request_id}"
        if self.colour:
            colour = _COLOURS.get(record.levelno, "")
            head, sep, rest = text.partition(": ")
            return f"{colour}{head}{_RESET}{sep}{rest}" if sep else text
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, and the
    access log's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            entry.update(access)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def _iso_time(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def stamp_request_id(body: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    """``body`` with ``extensions.requestId`` in each of its errors (a copy; the
    errors may be a cached payload shared by other requests)."""
    errors = body.get("errors")
    if not request_id or not isinstance(errors, list) or not errors:
        return body
    stamped = []
    for error in errors:
        if isinstance(error, dict):
            extensions = error.get("extensions")
            extensions = dict(extensions) if isinstance(extensions, dict) else {}
            extensions.setdefault("requestId", request_id)
            error = {**error, "extensions": extensions}
        stamped.append(error)
    return {**body, "errors": stamped}


def note_errors(body: dict[str, Any]) -> dict[str, Any]:
    """For an answer of the current request: its error codes counted in the
    request's stats, and its request id in each error (``body`` unchanged outside
    a request)."""
    stats = current_stats()
    if stats is None or not body.get("errors"):
        return body
    stats.add_errors(body["errors"])
    return stamp_request_id(body, stats.request_id)
