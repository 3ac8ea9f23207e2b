"""The GraphiQL playground page served on ``GET /graphql`` to browsers.

GraphiQL is loaded from a CDN; subscriptions in it go over SSE (graphql-sse's
distinct connections mode), the same protocol curl users get.
"""

from __future__ import annotations

import html
import json

__all__ = ["playground_html"]

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>gateway playground</title>
<style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}</style>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3.8.3/graphiql.min.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL from unpkg.com&hellip; (the GraphQL endpoint is
<code>{endpoint}</code>; curl works without this page)</div>
<script src="https://unpkg.com/react@18.3.1/umd/react.production.min.js"></script>
<script src="https://unpkg.com/react-dom@18.3.1/umd/react-dom.production.min.js"></script>
<script src="https://unpkg.com/graphiql@3.8.3/graphiql.min.js"></script>
<script type="module">
const endpoint = {endpoint_js};
async function* fetcher(params) {{
  const isSubscription = /^\\s*subscription\\b/m.test(params.query || "");
  const response = await fetch(endpoint, {{
    method: "POST",
    headers: {{
      "Content-Type": "application/json",
      "Accept": isSubscription ? "text/event-stream" : "application/graphql-response+json, application/json",
    }},
    body: JSON.stringify(params),
  }});
  if (!isSubscription) {{ yield await response.json(); return; }}
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {{
    const {{ value, done }} = await reader.read();
    if (done) return;
    buffer += value.replace(/\\r\\n?/g, "\\n");
    let end;
    while ((end = buffer.indexOf("\\n\\n")) >= 0) {{
      const frame = buffer.slice(0, end); buffer = buffer.slice(end + 2);
      let event = "message"; const data = [];
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
  React.createElement(GraphiQL, {{ fetcher, defaultEditorToolsVisibility: true }}),
);
</script>
</body>
</html>
"""


def playground_html(endpoint: str) -> str:
    """The playground page for the GraphQL endpoint at ``endpoint``."""
    return _TEMPLATE.format(
        endpoint=html.escape(endpoint), endpoint_js=json.dumps(endpoint)
    )
