"""What of an error a client may see: subgraph errors filtered, unexpected ones masked.

Two rules, both lifted by ``gateway.dev_mode: true`` (for one's own machine):

* A subgraph's GraphQL error reaches the client with its ``message``, ``path`` and,
  of its ``extensions``, only the keys in
  ``gateway.subgraph_error_propagation.allowed_extension_fields`` (``code`` and
  ``requestId`` always; ``stacktrace`` and ``exception`` never); an error without a code gets
  ``default_extension_code``, and ``serviceName`` names the subgraph. Cosmo's
  ``subgraph_error_propagation`` in its pass-through mode does the same.
  See https://cosmo-docs.wundergraph.com/router/configuration#subgraph-error-propagation
* An exception nobody raised on purpose (a bug, an OS error with a server path in
  it) is logged here with its traceback and a request id, and the client gets
  ``INTERNAL_SERVER_ERROR`` with that id in ``extensions.requestId``, never its text.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import GraphQLError

from gateway.config.model import SubgraphErrorPropagation
from gateway.errors import GatewayError

__all__ = [
    "INTERNAL_MESSAGE",
    "ErrorPolicy",
    "new_request_id",
]

logger = logging.getLogger("gateway.masking")

INTERNAL_MESSAGE = "internal server error"
_NEVER_SHOWN = frozenset({"stacktrace", "exception"})
_ALWAYS_SHOWN = frozenset({"code", "requestId"})
"""``requestId``: where an internal error of the subgraph is in its log."""


def new_request_id() -> str:
    """An id to find one request's failures in the gateway's log."""
    return os.urandom(16).hex()  # as random as uuid4().hex, at a fifth of its cost


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    """``gateway.dev_mode`` and ``gateway.subgraph_error_propagation``, applied."""

    dev_mode: bool = False
    propagation: SubgraphErrorPropagation = field(
        default_factory=SubgraphErrorPropagation
    )

    # -- unexpected exceptions ---------------------------------------------------------

    def unexpected(
        self,
        exc: BaseException,
        *,
        request_id: str | None,
        what: str,
        path: Sequence[str | int] | None = None,
    ) -> dict[str, Any]:
        """Log ``exc`` (``what`` failed) and return the GraphQL error a client sees."""
        request_id = request_id or new_request_id()
        logger.error("request %s: %s failed", request_id, what, exc_info=exc)
        message = INTERNAL_MESSAGE
        extensions: dict[str, Any] = {
            "code": "INTERNAL_SERVER_ERROR",
            "requestId": request_id,
        }
        if self.dev_mode:
            message = f"{what} failed: {type(exc).__name__}: {exc}"
            extensions["exception"] = {
                "type": type(exc).__name__,
                "stacktrace": traceback.format_exception(exc),
            }
        error: dict[str, Any] = {"message": message}
        if path is not None:
            error["path"] = list(path)
        error["extensions"] = extensions
        return error

    def internal_error(
        self, exc: BaseException, *, request_id: str | None, what: str
    ) -> GatewayError:
        """``unexpected`` as a ``GatewayError`` to raise where one is expected."""
        rendered = self.unexpected(exc, request_id=request_id, what=what)
        error = GatewayError(rendered["message"], code="INTERNAL_SERVER_ERROR")
        error.request_id = rendered["extensions"]["requestId"]
        return error

    # -- errors of in-process resolvers ------------------------------------------------

    def local_errors(
        self,
        errors: Iterable[GraphQLError],
        *,
        request_id: str | None,
        service: str,
    ) -> list[dict[str, Any]]:
        """graphql-core's errors of an in-process subgraph, as the JSON it would
        send over HTTP; exceptions its resolvers did not raise on purpose (not a
        ``GraphQLError`` nor a ``GatewayError``) are masked."""
        out: list[dict[str, Any]] = []
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, GraphQLError):
                out.append(dict(error.formatted))
            elif isinstance(original, GatewayError):
                formatted = dict(error.formatted)
                formatted["message"] = original.message
                formatted["extensions"] = {
                    **cast(dict[str, Any], formatted.get("extensions") or {}),
                    **original.extensions(),
                }
                out.append(formatted)
            else:
                out.append(
                    self.unexpected(
                        original,
                        request_id=request_id,
                        what=f"a resolver of subgraph {service!r}",
                        path=error.path,
                    )
                )
        return out

    def source_error(
        self, exc: BaseException, *, request_id: str | None, service: str
    ) -> dict[str, Any]:
        """The error of a subscription source that raised ``exc``."""
        if isinstance(exc, GraphQLError):
            return dict(exc.formatted)
        if isinstance(exc, GatewayError):
            return exc.to_graphql()
        return self.unexpected(
            exc,
            request_id=request_id,
            what=f"the subscription source of subgraph {service!r}",
        )

    # -- errors a subgraph sent --------------------------------------------------------

    def subgraph_error(self, error: Any, service: str) -> dict[str, Any]:
        """One error of subgraph ``service``'s response, as the client sees it."""
        propagation = self.propagation
        if not isinstance(error, dict):
            error = {"message": error if self.dev_mode else None}
        message = error.get("message")
        if not isinstance(message, str):
            message = f"subgraph {service!r} sent an error without a message"
        raw = error.get("extensions")
        raw_extensions: dict[str, Any] = raw if isinstance(raw, dict) else {}
        out: dict[str, Any] = {"message": message}
        path = error.get("path")
        if isinstance(path, list) and all(isinstance(p, str | int) for p in path):
            out["path"] = path
        if self.dev_mode:
            for key, value in error.items():
                if key not in ("message", "path", "locations", "extensions"):
                    out[key] = value
            extensions = dict(raw_extensions)
        else:
            allowed = propagation.allowed_extension_fields
            extensions = {
                key: value
                for key, value in raw_extensions.items()
                if (key in allowed or key in _ALWAYS_SHOWN) and key not in _NEVER_SHOWN
            }
        code = extensions.get("code")
        if not isinstance(code, str) or not code:
            extensions["code"] = propagation.default_extension_code
        if propagation.attach_service_name:
            extensions.setdefault("serviceName", service)
        out["extensions"] = extensions
        return out
