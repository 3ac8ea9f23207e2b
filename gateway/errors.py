"""Every error the gateway raises, as one tree.

    GatewayError
    ├── ConfigError           supergraph.yaml is wrong: names the file, the key path and the line
    ├── CompositionError      the subgraphs do not compose: carries every CompositionIssue found
    ├── RequestError          the client's request cannot run (HTTP status + extensions.code)
    │   ├── BadRequestError       malformed body, missing query, wrong content type    400
    │   ├── PayloadTooLargeError  body over gateway.max_request_bytes                  413
    │   ├── RequestTimeoutError   body not sent within limits.body_read_timeout        408
    │   ├── MethodNotAllowedError a mutation over GET, an unknown method               405
    │   ├── NotAcceptableError    an Accept header the gateway cannot answer           406
    │   ├── OperationError        parse/validation/variable errors, operation limits   400
    │   │   └── PersistedQueryNotFoundError  APQ: unknown hash; the client resends it with
    │   │                             its document          PERSISTED_QUERY_NOT_FOUND
    │   ├── TooManyStreamsError   stream limits reached                                429
    │   ├── HostNotAllowedError   Host is not a local name or gateway.allowed_hosts    421
    │   ├── OriginNotAllowedError Origin is not the gateway's nor in gateway.cors      403
    │   ├── PreflightRequiredError a GET/simple POST without a preflighted header (CSRF) 400
    │   ├── UnauthenticatedError  a bad, expired or (when required) missing token       401
    │   └── UnauthorizedError     gateway.authorization.reject_unauthorized and a field
    │                             the token may not see         403 UNAUTHORIZED_FIELD_OR_TYPE
    ├── PlanningError         a selection no path of the query graph reaches; answered
    │                         with data: null                        QUERY_PLANNING_FAILED
    └── SubgraphError         a subgraph could not be reached or answered badly; becomes a
        │                     GraphQL error at the fetch's paths, other data is kept
        ├── SubgraphUnreachableError  connection refused/reset, DNS     SUBGRAPH_UNREACHABLE
        ├── SubgraphTimeoutError      no answer within the timeout      SUBGRAPH_TIMEOUT
        ├── SubgraphHTTPError         a non-2xx status                  SUBGRAPH_HTTP_ERROR
        ├── SubgraphBadResponseError  not JSON, not a GraphQL response  SUBGRAPH_BAD_RESPONSE
        │   └── SubgraphResponseTooLargeError  over max_response_bytes  SUBGRAPH_RESPONSE_TOO_LARGE
        └── SubgraphStreamError       a stream ended in upstream errors SUBGRAPH_STREAM_ERROR

Every error has ``code`` (the ``extensions.code`` clients see) and ``message``.
``to_graphql()`` renders one as a GraphQL error object. Anything else that goes
wrong is a bug: it is logged with a request id and reaches the client as
``INTERNAL_SERVER_ERROR`` with that id (``gateway.masking``), never its text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BadRequestError",
    "CompositionError",
    "CompositionIssue",
    "ConfigError",
    "GatewayError",
    "HostNotAllowedError",
    "MethodNotAllowedError",
    "NotAcceptableError",
    "OperationError",
    "OriginNotAllowedError",
    "PayloadTooLargeError",
    "PersistedQueryNotFoundError",
    "PlanningError",
    "PreflightRequiredError",
    "RequestError",
    "RequestTimeoutError",
    "SubgraphBadResponseError",
    "SubgraphError",
    "SubgraphHTTPError",
    "SubgraphResponseTooLargeError",
    "SubgraphStreamError",
    "SubgraphTimeoutError",
    "SubgraphUnreachableError",
    "TooManyStreamsError",
    "UnauthenticatedError",
    "UnauthorizedError",
]


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code: str = "INTERNAL_SERVER_ERROR"
    request_id: str | None = None
    """Set on an internal error: where to find it in the gateway's log."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def extensions(self) -> dict[str, Any]:
        if self.request_id is not None:
            return {"code": self.code, "requestId": self.request_id}
        return {"code": self.code}

    def to_graphql(self, path: Sequence[str | int] | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message}
        if path is not None:
            error["path"] = list(path)
        error["extensions"] = self.extensions()
        return error


class ConfigError(GatewayError):
    """supergraph.yaml (or a file it names) is wrong.

    ``str()`` is one line: ``file:line: key.path: what is wrong``.
    """

    code = "CONFIG_ERROR"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key_path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.file = file
        self.key_path = key_path
        self.line = line
        self.column = column
        where = file or "<config>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        prefix = f"{where}: "
        if key_path:
            prefix += f"{key_path}: "
        super().__init__(prefix + message)
        self.reason = message


@dataclass(frozen=True, slots=True)
class CompositionIssue:
    """One reason the subgraphs do not compose."""

    code: str
    message: str
    subgraphs: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f" [{', '.join(self.subgraphs)}]" if self.subgraphs else ""
        return f"{self.code}{where}: {self.message}"


class CompositionError(GatewayError):
    """The subgraphs do not compose; ``issues`` lists every problem found."""

    code = "COMPOSITION_ERROR"

    def __init__(self, issues: Sequence[CompositionIssue]) -> None:
        self.issues = tuple(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(
            f"composition failed with {len(self.issues)} error(s):\n{lines}"
        )


class RequestError(GatewayError):
    """The client's request cannot run. ``status`` is the HTTP status to answer with
    when the client accepts ``application/graphql-response+json``."""

    code = "BAD_REQUEST"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})
        self._errors = list(errors) if errors is not None else None

    def graphql_errors(self) -> list[dict[str, Any]]:
        """The GraphQL errors to send: several for validation, else this one."""
        if self._errors is not None:
            return self._errors
        return [self.to_graphql()]


class BadRequestError(RequestError):
    code = "BAD_REQUEST"
    status = 400


class PayloadTooLargeError(RequestError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class RequestTimeoutError(RequestError):
    """The client did not send its request body within the body read timeout."""

    code = "REQUEST_TIMEOUT"
    status = 408


class MethodNotAllowedError(RequestError):
    code = "METHOD_NOT_ALLOWED"
    status = 405


class NotAcceptableError(RequestError):
    code = "NOT_ACCEPTABLE"
    status = 406


class OperationError(RequestError):
    """Parse, validation or variable-coercion errors (``GRAPHQL_PARSE_FAILED``,
    ``GRAPHQL_VALIDATION_FAILED``, ``BAD_USER_INPUT``, ``OPERATION_NOT_FOUND``...),
    and operation limits (``MAX_TOKENS_LIMIT``, ``MAX_DEPTH_LIMIT``,
    ``MAX_ALIASES_LIMIT``, ``MAX_ROOT_FIELDS_LIMIT``, ``MAX_TOTAL_FIELDS_LIMIT``,
    ``MAX_COMPLEXITY_LIMIT``: see ``gateway.limits``)."""

    code = "GRAPHQL_VALIDATION_FAILED"
    status = 400


class PersistedQueryNotFoundError(OperationError):
    """APQ: the hash is unknown; the client sends the document with it next."""

    code = "PERSISTED_QUERY_NOT_FOUND"


class TooManyStreamsError(RequestError):
    code = "TOO_MANY_STREAMS"
    status = 429


class HostNotAllowedError(RequestError):
    """DNS rebinding protection: the request names a host this server is not."""

    code = "HOST_NOT_ALLOWED"
    status = 421


class OriginNotAllowedError(RequestError):
    """A browser page of an origin outside ``gateway.cors.allow_origins``."""

    code = "ORIGIN_NOT_ALLOWED"
    status = 403


class PreflightRequiredError(RequestError):
    """CSRF prevention: a request a browser sends cross-site without asking."""

    code = "PREFLIGHT_REQUIRED"
    status = 400


class UnauthenticatedError(RequestError):
    """The request's token is invalid, expired, or missing where one is required.
    See https://www.rfc-editor.org/rfc/rfc6750#section-3"""

    code = "UNAUTHENTICATED"
    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class UnauthorizedError(RequestError):
    """``reject_unauthorized``: the operation selects fields its token may not see
    (one error per field, at its path)."""

    code = "UNAUTHORIZED_FIELD_OR_TYPE"
    status = 403


class PlanningError(GatewayError):
    code = "QUERY_PLANNING_FAILED"


class SubgraphError(GatewayError):
    """A subgraph could not answer. Rendered at the paths of the fetch that failed."""

    code = "SUBGRAPH_ERROR"

    def __init__(
        self,
        message: str,
        *,
        service: str,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.service = service
        self.status = status

    def extensions(self) -> dict[str, Any]:
        ext: dict[str, Any] = {**super().extensions(), "serviceName": self.service}
        if self.status is not None:
            ext["http"] = {"status": self.status}
        return ext


class SubgraphUnreachableError(SubgraphError):
    code = "SUBGRAPH_UNREACHABLE"


class SubgraphTimeoutError(SubgraphError):
    code = "SUBGRAPH_TIMEOUT"


class SubgraphHTTPError(SubgraphError):
    code = "SUBGRAPH_HTTP_ERROR"


class SubgraphBadResponseError(SubgraphError):
    code = "SUBGRAPH_BAD_RESPONSE"


class SubgraphResponseTooLargeError(SubgraphBadResponseError):
    """The answer is over ``max_response_bytes``; the rest was not read."""

    code = "SUBGRAPH_RESPONSE_TOO_LARGE"


# --- Upstream streams (gateway.transports.sse) --------------------------------------


class SubgraphStreamError(SubgraphError):
    """A subgraph's subscription stream ended with GraphQL errors of its own: an SSE
    ``error`` event, or a GraphQL error response where a stream was expected.

    ``errors`` are the subgraph's error objects, to send on to the client as they are
    (``graphql_errors()``); the exception's own message summarises them.
    """

    code = "SUBGRAPH_STREAM_ERROR"

    def __init__(
        self,
        message: str,
        *,
        service: str,
        errors: Sequence[dict[str, Any]] = (),
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, service=service, code=code, status=status)
        self.errors = list(errors)

    def graphql_errors(self) -> list[dict[str, Any]]:
        """The subgraph's own errors, or this error when it sent none."""
        return self.errors or [self.to_graphql()]
