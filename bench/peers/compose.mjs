// Composes subgraph SDL files into one Federation v2 supergraph SDL (@apollo/composition).
// Usage: node compose.mjs OUT.graphql NAME=URL=SDL_FILE ...
// Both peer gateways load the file it writes, so they serve the same supergraph.
import { readFileSync, writeFileSync } from "node:fs";
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

const [out, ...specs] = process.argv.slice(2);
if (!out || specs.length === 0) {
  console.error("usage: node compose.mjs OUT.graphql NAME=URL=SDL_FILE ...");
  process.exit(2);
}
const services = specs.map((spec) => {
  const [name, url, file] = spec.split("=");
  if (!name || !url || !file) {
    console.error(`bad subgraph spec ${JSON.stringify(spec)}: want NAME=URL=SDL_FILE`);
    process.exit(2);
  }
  return { name, url, typeDefs: parse(readFileSync(file, "utf8")) };
});
const result = composeServices(services);
if (result.errors) {
  for (const error of result.errors) console.error(error.message);
  process.exit(1);
}
writeFileSync(out, result.supergraphSdl);
