// Runs one operation with the graphql-ws client (graphql-transport-ws over WebSocket)
// and prints one JSON line per event: {"connected":true} once acknowledged, each
// result, then {"complete":true}, or {"error":..., "code": close code}. With TAKE,
// the client disposes after that many results (a disconnect), printing {"disposed":true}.
// usage: node ws_client.mjs URL QUERY [VARIABLES_JSON] [TAKE] [CONNECTION_PARAMS_JSON]
import { createClient } from "../node/node_modules/graphql-ws/dist/index.js";
import WebSocket from "../node/node_modules/ws/wrapper.mjs";

const [url, query, variables, take, params] = process.argv.slice(2);
if (!url || !query) {
  console.error("usage: node ws_client.mjs URL QUERY [VARIABLES_JSON] [TAKE] [PARAMS_JSON]");
  process.exit(2);
}
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0,
  lazy: true,
  connectionParams: params ? JSON.parse(params) : undefined,
  on: { connected: () => print({ connected: true }) },
});

const limit = take ? Number(take) : Infinity;
let received = 0;
try {
  const results = client.iterate({
    query,
    variables: variables ? JSON.parse(variables) : undefined,
  });
  for await (const result of results) {
    print(result);
    received += 1;
    if (received >= limit) {
      break; // ends the subscription: the client sends complete and closes
    }
  }
  print(received >= limit ? { disposed: true } : { complete: true });
} catch (error) {
  const code = error && typeof error === "object" && "code" in error ? error.code : null;
  const message =
    error instanceof Error ? error.message : error && error.reason !== undefined ? error.reason : error;
  print({ error: message, code });
  process.exitCode = 1;
} finally {
  await client.dispose();
}
