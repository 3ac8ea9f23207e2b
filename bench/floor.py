"""The floor: what a Python server on this stack spends on a query's I/O and JSON alone.

``scripts/bench --guild --floor`` measures it beside the gateway. For each query, the
bench first runs the gateway's engine in its own process over real HTTP and records the
subgraph requests it sends (``record``): each request's body, its subgraph, and which
answers had arrived before it was sent. The floor server (``python -m bench.floor
--port P --script FILE``) then answers that query by sending the same bodies, each once
the same answers are in, over the gateway's own HTTP/1.1 client, decoding every answer
with ``orjson.loads``; its answer is ``{"data": [the subgraphs' data, in order]}``,
about the size of the query's own answer, encoded with ``orjson.dumps``. Inbound it
parses HTTP/1.1 with httptools and the request body with orjson, and it sets the
garbage collector as the gateway does (``gateway.collector``).

No GraphQL happens in it: no parsing, validation, planning, representations, merging
or completion. Whatever a gateway built on these libraries does per request, it spends
at least this much: the floor is the target no CPU figure of ours can go under.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httptools
import orjson

from bench.loop import new_loop
from gateway import collector
from gateway.transports.h1 import HTTP1Client

__all__ = [
    "PROBE",
    "Exchange",
    "Script",
    "floor_answer",
    "record",
    "record_into",
    "serve_floor",
]

Exchange = dict[str, Any]
"""``{"service", "url", "body", "after"}``: ``after``, the indices of the exchanges
whose answers had arrived when this one was sent."""
Script = dict[str, Any]
"""``{"exchanges": [Exchange, ...], "answer": the floor's answer (text)}``."""

PROBE = "{ __typename }"
"""What tells that a server is up (``bench.common.wait_until_up``,
``bench.peers.wait_up``): every set of scripts has it (no exchanges)."""
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/graphql-response+json, application/json",
}
LIMIT = 64 << 20
TIMEOUT_S = 30.0


def floor_answer(datas: list[Any]) -> bytes:
    return orjson.dumps({"data": datas})


async def record(
    sdl: Mapping[str, str], urls: Mapping[str, str], queries: list[str]
) -> dict[str, Script]:
    """Per query, the subgraph requests the gateway's engine sends for it (run here,
    over HTTP to ``urls``), and the floor's answer from what the subgraphs said."""
    from gateway.composition.compose import compose
    from gateway.engine import Engine
    from gateway.limits import OperationLimits
    from gateway.operation import GraphQLRequest
    from gateway.transports.http import HTTPTransport, encode_body

    client = HTTP1Client()
    log: list[Exchange] = []
    datas: list[Any] = []
    arrived: list[int] = []

    class Recording(HTTPTransport):
        async def fetch(self, request: Any) -> Any:
            number = len(log)
            log.append(
                {
                    "service": self.name,
                    "url": self.url,
                    "body": encode_body(request).decode(),
                    "after": list(arrived),
                }
            )
            datas.append(None)
            result = await super().fetch(request)
            # A copy: the engine merges into the answer's objects in place.
            datas[number] = orjson.loads(orjson.dumps(result.get("data")))
            arrived.append(number)
            return result

    transports = {name: Recording(name, urls[name], client) for name in sdl}
    # The heavy query's estimated complexity is over the default limit.
    engine = Engine(
        compose(list(sdl.items())),
        transports,
        limits=OperationLimits(complexity=None),
    )
    scripts: dict[str, Script] = {}
    try:
        for query in queries:
            log.clear()
            datas.clear()
            arrived.clear()
            prepared = engine.prepare(GraphQLRequest(query=query))
            body = await engine.executor.execute(engine.plan_for(prepared), {})
            if body.get("errors"):
                raise RuntimeError(f"the gateway's engine failed the query: {body}")
            scripts[query] = {
                "exchanges": list(log),
                "answer": floor_answer(list(datas)).decode(),
            }
    finally:
        await client.close()
    return scripts


class _Floor:
    """Answers each recorded query by replaying its exchanges."""

    def __init__(self, scripts: Mapping[str, Script]) -> None:
        self.client = HTTP1Client()
        self.responding: set[asyncio.Future[None]] = set()
        self.scripts = {
            query: [
                (e["url"], e["body"].encode(), tuple(e["after"]))
                for e in script["exchanges"]
            ]
            for query, script in scripts.items()
        }

    async def answer(self, body: bytes) -> tuple[int, bytes]:
        query = orjson.loads(body).get("query")
        exchanges = self.scripts.get(query)
        if exchanges is None:
            return 400, b'{"errors":[{"message":"not a recorded query"}]}'
        loop = asyncio.get_running_loop()
        answers: list[asyncio.Future[Any]] = [loop.create_future() for _ in exchanges]

        async def one(number: int) -> None:
            url, payload, after = exchanges[number]
            for earlier in after:
                await answers[earlier]
            response = await self.client.post(
                url, payload, HEADERS, timeout=TIMEOUT_S, limit=LIMIT
            )
            answers[number].set_result(orjson.loads(response.body).get("data"))

        tasks = [asyncio.ensure_future(one(n)) for n in range(len(exchanges))]
        try:
            datas = [await answer for answer in answers]
        finally:
            for task in tasks:
                task.cancel()
        return 200, floor_answer(datas)


class _Connection(asyncio.Protocol):
    def __init__(self, floor: _Floor) -> None:
        self.floor = floor
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        task = asyncio.ensure_future(self._respond(body))
        self.floor.responding.add(task)
        task.add_done_callback(self.floor.responding.discard)

    async def _respond(self, body: bytes) -> None:
        try:
            status, out = await self.floor.answer(body)
        except Exception as exc:  # a subgraph failed: say so, keep serving
            status, out = 502, orjson.dumps({"errors": [{"message": repr(exc)}]})
        if self.transport is None or self.transport.is_closing():
            return
        reason = {200: b"OK", 400: b"Bad Request"}.get(status, b"Bad Gateway")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (status, reason, len(out), out)
        )


def serve_floor(port: int, scripts: Mapping[str, Script]) -> None:
    """Serve the floor on 127.0.0.1:``port`` until killed; a line on stdout once up."""
    loop = new_loop()
    asyncio.set_event_loop(loop)
    floor = _Floor(scripts)
    server = loop.run_until_complete(
        loop.create_server(lambda: _Connection(floor), "127.0.0.1", port)
    )
    # The garbage collector as the gateway's server sets it (gateway/collector.py).
    collector.tune()
    collector.freeze_long_lived()
    print(f"floor listening on 127.0.0.1:{port}", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


def record_into(
    path: Path, sdl: Mapping[str, str], urls: Mapping[str, str], queries: list[str]
) -> dict[str, Script]:
    """``record`` of ``queries`` and ``PROBE``, written to ``path`` (what the floor
    server's ``--script`` reads); the scripts."""
    scripts = asyncio.run(record(sdl, urls, [*queries, PROBE]))
    path.write_bytes(orjson.dumps(scripts))
    return scripts


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--script", type=Path, required=True)
    args = parser.parse_args()
    serve_floor(args.port, orjson.loads(args.script.read_bytes()))


if __name__ == "__main__":
    main()
