"""A bare aiohttp pass-through proxy: the ceiling for a Python proxy on this stack.

It forwards the request body to one upstream with a shared ClientSession and returns
the upstream's bytes. No parsing, no validation, no planning.
``python -m bench.proxy --port P --upstream URL``.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bench.loop import serve

__all__ = ["create_app"]

SESSION = web.AppKey("session", aiohttp.ClientSession)


def create_app(upstream: str) -> web.Application:
    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=256)
        async with aiohttp.ClientSession(connector=connector) as session:
            app[SESSION] = session
            yield

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        async with request.app[SESSION].post(
            upstream, data=body, headers={"Content-Type": "application/json"}
        ) as response:
            answer = await response.read()
        return web.Response(body=answer, content_type="application/json")

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/graphql", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    serve(create_app(args.upstream), args.port)


if __name__ == "__main__":
    main()
