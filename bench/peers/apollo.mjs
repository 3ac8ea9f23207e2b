// Apollo Gateway (query planner + executor) behind Apollo Server's standalone HTTP server.
// Usage: node apollo.mjs SUPERGRAPH.graphql PORT
import { readFileSync } from "node:fs";
import { ApolloGateway } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";

const [file, port] = process.argv.slice(2);
if (!file || !port) {
  console.error("usage: node apollo.mjs SUPERGRAPH.graphql PORT");
  process.exit(2);
}
const gateway = new ApolloGateway({ supergraphSdl: readFileSync(file, "utf8") });
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: Number(port) },
});
console.error(`apollo gateway on ${url}`);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => server.stop().then(() => process.exit(0)));
}
