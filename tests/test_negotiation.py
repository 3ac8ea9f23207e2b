"""Content negotiation by Accept's q-values and order (RFC 9110), queries vs streams."""

from __future__ import annotations

import pytest

from gateway.errors import NotAcceptableError
from gateway.http.graphql import (
    DEFER_SPEC,
    MULTIPART_MIXED,
    SUBSCRIPTION_SPEC,
    Answer,
    negotiate,
)

JSON = "application/json"
GQL = "application/graphql-response+json"
SSE = "text/event-stream"
URQL_DEFAULT = (
    "application/graphql-response+json, application/graphql+json, "
    "application/json, text/event-stream, multipart/mixed"
)
APOLLO3_SUBSCRIPTION = (
    'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json'
)
APOLLO4_SUBSCRIPTION = (
    'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,'
    "application/graphql-response+json,application/json;q=0.9"
)


@pytest.mark.parametrize(
    ("accept", "single"),
    [
        (URQL_DEFAULT, GQL),
        (f"{JSON}, {SSE}", JSON),
        (f"{SSE}, {JSON}", SSE),
        (f"{SSE};q=0.5, {JSON}", JSON),
        (f"{JSON};q=0.4, {SSE}", SSE),
        (f"{SSE}, */*", SSE),
        (f"*/*;q=0.9, {SSE};q=0.8", JSON),
        (f"application/*, {SSE}", JSON),
        (APOLLO4_SUBSCRIPTION, MULTIPART_MIXED),
        (f"{GQL};q=0, {JSON};q=0.1", JSON),
    ],
)
def test_a_query_gets_the_best_format_by_q_then_order(accept: str, single: str) -> None:
    assert negotiate(accept).single.media == single


@pytest.mark.parametrize(
    ("accept", "stream"),
    [
        (URQL_DEFAULT, Answer(SSE)),
        (APOLLO3_SUBSCRIPTION, Answer(MULTIPART_MIXED, SUBSCRIPTION_SPEC)),
        (APOLLO4_SUBSCRIPTION, Answer(MULTIPART_MIXED, SUBSCRIPTION_SPEC)),
        (
            "multipart/mixed;subscriptionSpec=1.0",
            Answer(MULTIPART_MIXED, SUBSCRIPTION_SPEC),
        ),
        (
            'multipart/mixed;subscriptionSpec="1.0"',
            Answer(MULTIPART_MIXED, SUBSCRIPTION_SPEC),
        ),
        (
            f"{SSE};q=0.5, multipart/mixed;subscriptionSpec=1.0",
            Answer(MULTIPART_MIXED, SUBSCRIPTION_SPEC),
        ),
        (f"{JSON}, {SSE}", Answer(SSE)),
        (
            "multipart/mixed;deferSpec=20220824, application/json",
            Answer(MULTIPART_MIXED, DEFER_SPEC),
        ),
    ],
)
def test_a_subscription_streams_in_the_best_streaming_format(
    accept: str, stream: Answer
) -> None:
    assert negotiate(accept).stream == stream


@pytest.mark.parametrize(
    "accept", [JSON, "*/*", f"{GQL}, {JSON}", f"{SSE};q=0, {JSON}"]
)
def test_a_subscription_without_a_streaming_format_has_no_stream(accept: str) -> None:
    assert negotiate(accept).stream is None


def test_a_query_asked_only_as_multipart_gets_one_multipart_answer() -> None:
    answer = negotiate("multipart/mixed;deferSpec=20220824").single
    assert answer == Answer(MULTIPART_MIXED, DEFER_SPEC)


def test_a_server_without_multipart_refuses_multipart_only() -> None:
    with pytest.raises(NotAcceptableError) as info:
        negotiate("multipart/mixed;subscriptionSpec=1.0", multipart=False)
    assert "multipart" not in str(info.value).split("accepted:")[1]


def test_an_unknown_type_is_not_acceptable_and_says_what_is() -> None:
    with pytest.raises(NotAcceptableError) as info:
        negotiate("image/png")
    assert "subscriptionSpec=1.0" in str(info.value)
