"""The github subgraph pointed (through GITHUB_API_URL) at a fake GitHub on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from graphql import ExecutionResult, graphql

from gateway.local import LocalSubgraph
from gateway.transports.base import RequestContext
from subgraphs.github import create_subgraph
from tests.subgraphs.github.fake_github import FakeGitHub

TOKEN = "ghp_test_token"


@pytest.fixture
def fake() -> FakeGitHub:
    fake = FakeGitHub(token=TOKEN)
    fake.add_repo("octo", "hello", description="Hello, world", stars=42, forks=7)
    for number in range(1, 14):
        if number in (3, 7, 11):
            fake.add_issue(
                "octo",
                "hello",
                f"PR {number}",
                state="closed" if number == 3 else "open",
                author="dev",
                pull={
                    "head": f"feature-{number}",
                    "draft": number == 11,
                    "merged": number == 3,
                },
            )
        else:
            fake.add_issue(
                "octo",
                "hello",
                f"Issue {number}",
                state="closed" if number == 2 else "open",
                body=f"Body {number}",
                labels=("bug",) if number == 1 else (),
            )
    for i in range(1, 4):
        fake.add_comment("octo", "hello", 1, f"comment {i}", author=f"user{i}")
    return fake


@pytest.fixture
async def server(
    fake: FakeGitHub, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> TestServer:
    return await aiohttp_server(fake.app())


@pytest.fixture
async def subgraph(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LocalSubgraph]:
    monkeypatch.setenv("GITHUB_API_URL", str(server.make_url("")))
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    local = create_subgraph({})
    assert local.lifespan is not None
    async with local.lifespan():
        yield local


async def run(
    local: LocalSubgraph, query: str, variables: Mapping[str, Any] | None = None
) -> ExecutionResult:
    assert local.context is not None
    return await graphql(
        local.schema,
        query,
        variable_values=dict(variables or {}),
        context_value=local.context(RequestContext()),
    )
