"""How benchmark servers run: on uvloop when it is installed, quietly, on loopback."""

from __future__ import annotations

import asyncio

from aiohttp import web

__all__ = ["new_loop", "serve"]


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def serve(app: web.Application, port: int) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until killed, with no access log. Once it
    listens, one line on stdout says so (whoever started it may wait for it)."""
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=lambda text: print(text, flush=True),
        loop=new_loop(),
    )
