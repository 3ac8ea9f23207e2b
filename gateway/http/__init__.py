"""The HTTP edge: the only package that imports ``aiohttp.web``.

``app`` is the gateway's application factory, ``graphql`` GraphQL over HTTP (request
reading, content negotiation, JSON responses), ``streaming`` the event-stream writer,
``playground`` the GraphiQL page, ``subgraph_app`` a ``LocalSubgraph`` served alone.
"""

from __future__ import annotations

from gateway.http.app import create_app

__all__ = ["create_app"]
