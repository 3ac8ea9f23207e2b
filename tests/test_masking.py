"""What of an error a client sees (gateway.masking)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from graphql import GraphQLError, build_schema, graphql

from gateway.config.model import SubgraphErrorPropagation
from gateway.errors import GatewayError
from gateway.masking import INTERNAL_MESSAGE, ErrorPolicy

POLICY = ErrorPolicy()


def test_a_subgraph_error_keeps_message_path_and_code_only() -> None:
    error = {
        "message": "not found",
        "path": ["repo", 0, "file"],
        "locations": [{"line": 1, "column": 2}],
        "extensions": {
            "code": "NOT_FOUND",
            "stacktrace": ["/srv/app/resolvers.py line 3"],
            "exception": {"path": "/srv/secret"},
            "internalUrl": "http://10.0.0.3:8080",
        },
        "debug": "anything",
    }
    assert POLICY.subgraph_error(error, "git") == {
        "message": "not found",
        "path": ["repo", 0, "file"],
        "extensions": {"code": "NOT_FOUND", "serviceName": "git"},
    }


def test_an_error_without_code_gets_the_default_code() -> None:
    assert POLICY.subgraph_error({"message": "x"}, "a")["extensions"] == {
        "code": "DOWNSTREAM_SERVICE_ERROR",
        "serviceName": "a",
    }


def test_allowed_extension_fields_pass_and_request_ids_always_do() -> None:
    policy = ErrorPolicy(
        propagation=SubgraphErrorPropagation(
            allowed_extension_fields=("code", "retryable"),
            default_extension_code="SUBGRAPH_ERROR",
            attach_service_name=False,
        )
    )
    error = {
        "message": "busy",
        "extensions": {"retryable": True, "requestId": "abc", "stacktrace": []},
    }
    assert policy.subgraph_error(error, "a") == {
        "message": "busy",
        "extensions": {"retryable": True, "requestId": "abc", "code": "SUBGRAPH_ERROR"},
    }


@pytest.mark.parametrize(
    "error", ["a string", None, 3, {"message": 5}, {"path": "not a list"}]
)
def test_a_malformed_error_still_has_a_message_and_code(error: Any) -> None:
    shown = POLICY.subgraph_error(error, "a")
    assert isinstance(shown["message"], str)
    assert shown["extensions"]["code"] == "DOWNSTREAM_SERVICE_ERROR"
    assert "path" not in shown


def test_dev_mode_shows_everything_but_locations() -> None:
    error = {
        "message": "boom",
        "locations": [{"line": 1, "column": 1}],
        "extensions": {"stacktrace": ["line"]},
        "debug": 1,
    }
    shown = ErrorPolicy(dev_mode=True).subgraph_error(error, "a")
    assert shown == {
        "message": "boom",
        "debug": 1,
        "extensions": {
            "stacktrace": ["line"],
            "code": "DOWNSTREAM_SERVICE_ERROR",
            "serviceName": "a",
        },
    }


def test_an_unexpected_exception_is_logged_with_the_id_the_client_gets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exc = OSError(36, "File name too long", "/home/me/projects/" + "a" * 300)
    with caplog.at_level(logging.ERROR, logger="gateway.masking"):
        error = POLICY.unexpected(exc, request_id="req-1", what="reading", path=["f"])
    assert error == {
        "message": INTERNAL_MESSAGE,
        "path": ["f"],
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-1"},
    }
    [record] = caplog.records
    assert "req-1" in record.getMessage() and record.exc_info is not None
    assert record.exc_info[1] is exc


def test_an_unexpected_exception_without_a_request_gets_a_fresh_id() -> None:
    error = POLICY.unexpected(RuntimeError("x"), request_id=None, what="w")
    assert len(error["extensions"]["requestId"]) == 32


def test_dev_mode_shows_the_exception() -> None:
    error = ErrorPolicy(dev_mode=True).unexpected(
        TypeError("'<=' not supported"), request_id="r", what="a resolver"
    )
    assert "'<=' not supported" in error["message"]
    assert error["extensions"]["exception"]["type"] == "TypeError"
    assert error["extensions"]["exception"]["stacktrace"]


SCHEMA = build_schema(
    "type Query { ok: String  bug: String  chosen: String  ours: String }"
)


class _Root:
    ok = "fine"

    def bug(self, info: Any) -> str:
        raise TypeError("'<=' not supported between instances of 'int' and 'NoneType'")

    def chosen(self, info: Any) -> str:
        raise GraphQLError("bad input", extensions={"code": "BAD_USER_INPUT"})

    def ours(self, info: Any) -> str:
        raise GatewayError("session busy", code="SESSION_BUSY")


async def test_local_errors_mask_only_what_no_resolver_meant() -> None:
    result = await graphql(SCHEMA, "{ ok bug chosen ours }", root_value=_Root())
    assert result.errors is not None
    errors = POLICY.local_errors(result.errors, request_id="r1", service="git")
    by_path = {tuple(e["path"]): e for e in errors}
    assert by_path[("bug",)]["message"] == INTERNAL_MESSAGE
    assert by_path[("bug",)]["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "requestId": "r1",
    }
    assert by_path[("chosen",)]["message"] == "bad input"
    assert by_path[("chosen",)]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert by_path[("ours",)]["message"] == "session busy"
    assert by_path[("ours",)]["extensions"] == {"code": "SESSION_BUSY"}
    assert "NoneType" not in str(errors)


def test_a_failing_subscription_source_is_masked() -> None:
    error = POLICY.source_error(
        FileNotFoundError(2, "No such file", "/abs/path"), request_id="s", service="git"
    )
    assert error["message"] == INTERNAL_MESSAGE and "/abs" not in str(error)
    chosen = POLICY.source_error(GraphQLError("gone"), request_id="s", service="git")
    assert chosen == {"message": "gone"}
