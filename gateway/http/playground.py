"""The GraphiQL playground, served with its assets by the gateway itself (works offline).

GraphiQL and React come from the npm registry at set-up time
(``scripts/lib/node-deps.sh`` installs ``playground/package.json`` into
``.cache/playground``; ``GATEWAY_PLAYGROUND_ASSETS`` names another ``node_modules``)
and are served under ``/playground/``. Without them the page says so and how to get
them. Queries go as JSON, subscriptions over WebSocket (graphql-transport-ws; SSE
when a socket cannot open), each with the Headers tab's headers.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from aiohttp import web

__all__ = [
    "ASSETS",
    "ASSETS_PATH",
    "add_playground_routes",
    "assets_dir",
    "playground_html",
    "playground_response",
]

ASSETS_PATH = "/playground/"
"""Where the page loads GraphiQL and React from."""

ASSETS: dict[str, str] = {
    "graphiql.min.css": "graphiql/graphiql.min.css",
    "graphiql.min.js": "graphiql/graphiql.min.js",
    "react.production.min.js": "react/umd/react.production.min.js",
    "react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
}
"""The files served: name -> path under ``node_modules``."""

_DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".cache/playground/node_modules"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gateway playground</title>
<style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
<link rel="stylesheet" href="{assets}graphiql.min.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL&hellip;</div>
<script src="{assets}react.production.min.js"></script>
<script src="{assets}react-dom.production.min.js"></script>
<script src="{assets}graphiql.min.js"></script>
<script>
const endpoint = {endpoint_js};
function operationKind(params, opts) {{
  const doc = opts && opts.documentAST;
  if (doc) {{
    const ops = doc.definitions.filter((d) => d.kind === "OperationDefinition");
    const op = params.operationName
      ? ops.find((d) => d.name && d.name.value === params.operationName)
      : ops[0];
    if (op) return op.operation;
  }}
  return /^\\s*subscription\\b/m.test(params.query || "") ? "subscription" : "query";
}}
// A subscription over WebSocket (graphql-transport-ws), one socket per subscription;
// the Headers tab's headers go in connection_init, which the gateway propagates as
// HTTP headers. Where the socket cannot open, the subscription goes over SSE.
async function* overWebSocket(params, headers) {{
  const url = new URL(endpoint, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(url, "graphql-transport-ws");
  const queue = [];
  let wake = null;
  const push = (item) => {{ queue.push(item); if (wake) {{ wake(); wake = null; }} }};
  socket.onopen = () => socket.send(JSON.stringify({{ type: "connection_init", payload: headers }}));
  socket.onmessage = (event) => {{
    const message = JSON.parse(event.data);
    if (message.type === "connection_ack") {{
      socket.send(JSON.stringify({{ id: "1", type: "subscribe", payload: params }}));
    }} else if (message.type === "ping") {{
      socket.send(JSON.stringify({{ type: "pong" }}));
    }} else if (message.type === "next") {{
      push({{ value: message.payload }});
    }} else if (message.type === "error") {{
      push({{ value: {{ errors: message.payload }} }});
      push({{ done: true }});
    }} else if (message.type === "complete") {{
      push({{ done: true }});
    }}
  }};
  let opened = false;
  socket.addEventListener("open", () => {{ opened = true; }});
  socket.onclose = (event) => push({{ done: true, closed: event, opened }});
  try {{
    for (;;) {{
      while (!queue.length) await new Promise((resolve) => {{ wake = resolve; }});
      const item = queue.shift();
      if (item.closed && !item.opened) throw new Error("no WebSocket");
      if (item.closed && item.closed.code !== 1000) {{
        yield {{ errors: [{{ message: `the socket closed: ${{item.closed.code}} ${{item.closed.reason}}` }}] }};
      }}
      if (item.done) return;
      yield item.value;
    }}
  }} finally {{
    if (socket.readyState === WebSocket.OPEN) {{
      socket.send(JSON.stringify({{ id: "1", type: "complete" }}));
      socket.close(1000);
    }}
  }}
}}
async function* fetcher(params, opts) {{
  const subscription = operationKind(params, opts) === "subscription";
  if (subscription && typeof WebSocket === "function") {{
    try {{
      yield* overWebSocket(params, (opts && opts.headers) || {{}});
      return;
    }} catch (error) {{
      if (error.message !== "no WebSocket") throw error;
    }}
  }}
  const response = await fetch(endpoint, {{
    method: "POST",
    headers: {{
      ...((opts && opts.headers) || {{}}),
      "Content-Type": "application/json",
      "Accept": subscription
        ? "text/event-stream"
        : "application/graphql-response+json, application/json",
    }},
    body: JSON.stringify(params),
  }});
  if (!(response.headers.get("content-type") || "").startsWith("text/event-stream")) {{
    yield await response.json();
    return;
  }}
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {{
    const {{ value, done }} = await reader.read();
    if (done) return;
    buffer += value.replace(/\\r\\n?/g, "\\n");
    let end;
    while ((end = buffer.indexOf("\\n\\n")) >= 0) {{
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of frame.split("\\n")) {{
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }}
      if (event === "next") yield JSON.parse(data.join("\\n"));
      if (event === "complete") return;
    }}
  }}
}}
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {{
    fetcher,
    defaultEditorToolsVisibility: true,
    isHeadersEditorEnabled: true,
  }}),
);
</script>
</body>
</html>
"""

_MISSING = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>gateway playground: assets missing</title></head>
<body style="font-family: sans-serif; max-width: 48em; margin: 2em auto">
<h1>The playground's assets are missing</h1>
<p>GraphiQL is served by the gateway itself from files installed from the npm
registry, and they are not installed (looked in <code>{where}</code>).</p>
<p>Install them with <code>scripts/lib/node-deps.sh playground</code> (needs npm;
<code>scripts/serve</code> runs it), or point <code>GATEWAY_PLAYGROUND_ASSETS</code> at
a <code>node_modules</code> folder that has <code>graphiql</code>, <code>react</code>
and <code>react-dom</code>, then reload this page.</p>
<p>The GraphQL endpoint works without them:
<code>curl -H 'Content-Type: application/json' -d '{{"query":"{{ __typename }}"}}'
{endpoint}</code></p>
</body>
</html>
"""


def assets_dir() -> Path:
    """The ``node_modules`` folder the playground's assets are served from."""
    configured = os.environ.get("GATEWAY_PLAYGROUND_ASSETS")
    return Path(configured) if configured else _DEFAULT_DIR


def _assets_installed(folder: Path) -> bool:
    return all((folder / path).is_file() for path in ASSETS.values())


def playground_html(endpoint: str, *, assets: Path | None = None) -> str:
    """The playground page for the GraphQL endpoint at ``endpoint``, or the page
    saying its assets are missing."""
    folder = assets_dir() if assets is None else assets
    if not _assets_installed(folder):
        return _MISSING.format(
            where=html.escape(str(folder)), endpoint=html.escape(endpoint)
        )
    return _PAGE.format(
        assets=ASSETS_PATH,
        endpoint_js=json.dumps(endpoint).replace("<", "\\u003c"),
    )


def playground_response(request: web.Request) -> web.Response:
    """The page, for the GraphQL endpoint at the request's path."""
    return web.Response(
        text=playground_html(request.path),
        content_type="text/html",
        headers={"Cache-Control": "no-cache"},
    )


async def _asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = ASSETS.get(name)
    file = assets_dir() / path if path is not None else None
    if file is None or not file.is_file():
        raise web.HTTPNotFound(
            text=f"no playground asset {name!r} (see {ASSETS_PATH} on the page)"
        )
    return web.FileResponse(file, headers={"Cache-Control": "public, max-age=3600"})


def add_playground_routes(app: web.Application) -> None:
    """Serve the playground's assets under ``ASSETS_PATH``."""
    app.router.add_get(ASSETS_PATH + "{name}", _asset)
