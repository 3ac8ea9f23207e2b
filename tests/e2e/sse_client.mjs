// Subscribes with the official graphql-sse client (distinct connections mode) and
// prints every result as one JSON line, then {"complete":true} or {"error":...}.
// usage: node sse_client.mjs URL QUERY [VARIABLES_JSON]
import { createClient } from "../node/node_modules/graphql-sse/lib/client.mjs";

const [url, query, variables] = process.argv.slice(2);
if (!url || !query) {
  console.error("usage: node sse_client.mjs URL QUERY [VARIABLES_JSON]");
  process.exit(2);
}

const client = createClient({ url, singleConnection: false, retryAttempts: 0 });
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");

try {
  const results = client.iterate({
    query,
    variables: variables ? JSON.parse(variables) : undefined,
  });
  for await (const result of results) {
    print(result);
  }
  print({ complete: true });
} catch (error) {
  print({ error: error instanceof Error ? error.message : error });
  process.exitCode = 1;
} finally {
  client.dispose();
}
