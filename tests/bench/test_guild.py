"""bench.guild: the gateway answers The Guild's queries as the hand-joined oracle does."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from bench.guild import HEAVY, JOIN, LIGHT, NAMES, SDL, expected_answer, schema_for
from bench.subgraphs import create_app
from gateway.composition import compose
from gateway.engine import Engine
from gateway.limits import OperationLimits
from gateway.operation import GraphQLRequest
from gateway.transports.h1 import HTTP1Client
from gateway.transports.http import HTTPTransport

# The heavy query's estimated complexity (about 108 000) is over the default limit.
_NO_COMPLEXITY = OperationLimits(complexity=None)


@pytest.mark.parametrize("query", [LIGHT, JOIN, HEAVY], ids=["light", "join", "heavy"])
async def test_gateway_answers_the_guild_queries_as_the_oracle(
    query: str, aiohttp_server: Any
) -> None:
    async with HTTP1Client() as session:
        transports = {}
        for name in NAMES:
            server = await aiohttp_server(create_app(schema_for(name)))
            url = str(server.make_url("/graphql"))
            transports[name] = HTTPTransport(name, url, session)
        engine = Engine(compose(list(SDL.items())), transports, limits=_NO_COMPLEXITY)
        body = await engine.execute(engine.prepare(GraphQLRequest(query=query)))
    assert orjson.dumps(body) == orjson.dumps(expected_answer(query))


def test_the_heavy_answer_is_the_benchmark_size() -> None:
    # The reference's heavy answer is about 87 KB.
    assert 85_000 < len(orjson.dumps(expected_answer(HEAVY))) < 90_000


async def test_concurrent_queries_sharing_subgraph_answers_stay_independent(
    aiohttp_server: Any,
) -> None:
    # With subgraph dedup on, the queries share decoded answers of identical
    # fetches; each must still get exactly its own answer.
    async with HTTP1Client() as session:
        transports = {}
        for name in NAMES:
            server = await aiohttp_server(create_app(schema_for(name)))
            url = str(server.make_url("/graphql"))
            transports[name] = HTTPTransport(name, url, session, dedup=True)
        engine = Engine(compose(list(SDL.items())), transports, limits=_NO_COMPLEXITY)
        queries = [HEAVY, JOIN, LIGHT, HEAVY, JOIN] * 4
        bodies = await asyncio.gather(
            *(engine.execute(engine.prepare(GraphQLRequest(query=q))) for q in queries)
        )
    for query, body in zip(queries, bodies, strict=True):
        assert orjson.dumps(body) == orjson.dumps(expected_answer(query))
