"""Threat model, github part: what reaches a client from the GitHub adapter is
GitHub's own answer or a coded error, never a configured URL, a token or Python
exception text (issue 10)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from graphql import graphql

from gateway.local import LocalSubgraph
from gateway.transports.base import RequestContext
from subgraphs.github import create_subgraph
from tests.subgraphs.github.fake_github import FakeGitHub

TOKEN = "ghp_security_token_0451"


@pytest.fixture
async def github(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> AsyncIterator[tuple[FakeGitHub, LocalSubgraph]]:
    fake = FakeGitHub(token=TOKEN)
    fake.add_repo("octo", "hello")
    fake.add_issue("octo", "hello", "An issue")
    server = await aiohttp_server(fake.app())
    local = create_subgraph({"api_url": str(server.make_url("")), "token": TOKEN})
    assert local.lifespan is not None
    async with local.lifespan():
        yield fake, local


async def _ask(local: LocalSubgraph, query: str) -> Any:
    assert local.context is not None
    return await graphql(
        local.schema, query, context_value=local.context(RequestContext())
    )


@pytest.mark.parametrize(
    "field",
    [
        "issues(first: null) { number }",
        "pullRequests(first: null) { number }",
        "issue(number: 1) { comments(first: null) { id } }",
        "issues(first: -5) { number }",
        "pullRequests(first: 1000000) { number }",
    ],
)
async def test_bad_page_sizes_are_bad_user_input_without_python_text(
    github: tuple[FakeGitHub, LocalSubgraph], field: str
) -> None:
    fake, local = github
    result = await _ask(
        local, f'{{ githubRepository(owner: "octo", name: "hello") {{ {field} }} }}'
    )
    [error] = result.errors
    assert error.extensions["code"] == "BAD_USER_INPUT"
    assert error.message.startswith("'first' must be")
    for leak in ("NoneType", "<=", "Traceback", "'int'"):
        assert leak not in error.message
    lists = [
        r for r in fake.requests if r.path.endswith(("/issues", "/pulls", "/comments"))
    ]
    assert lists == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_api_is_named_without_its_address() -> None:
    port = _closed_port()
    local = create_subgraph(
        {"api_url": f"http://127.0.0.1:{port}/internal-ghe", "token": TOKEN}
    )
    assert local.lifespan is not None
    async with local.lifespan():
        result = await _ask(
            local, '{ githubRepository(owner: "octo", name: "hello") { fullName } }'
        )
    [error] = result.errors
    assert error.extensions["code"] == "UPSTREAM_UNAVAILABLE"
    assert error.message == "GitHub is unreachable: cannot connect"
    assert str(port) not in str(error.formatted)
    assert TOKEN not in str(error.formatted)


async def test_a_link_off_the_api_is_not_followed_nor_shown(
    github: tuple[FakeGitHub, LocalSubgraph],
) -> None:
    fake, local = github
    fake.max_per_page = 1
    fake.add_issue("octo", "hello", "Another issue")
    original = fake._page

    def hostile(request: object, items: list[object]) -> object:
        response = original(request, items)  # type: ignore[arg-type]
        response.headers["Link"] = '<http://evil.example/steal?page=2>; rel="next"'
        return response

    fake._page = hostile  # type: ignore[method-assign]
    result = await _ask(
        local,
        '{ githubRepository(owner: "octo", name: "hello") { issues(first: 5) { number } } }',
    )
    [error] = result.errors
    assert error.extensions["code"] == "UPSTREAM_ERROR"
    assert "evil.example" not in error.message
    assert all(r.path.startswith("/repos/") for r in fake.requests)
