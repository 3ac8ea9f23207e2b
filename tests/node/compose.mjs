// Composes subgraphs with @theguild/federation-composition, the reference our own
// composition is checked against. Reads JSON from stdin: [{name, sdl}], in order.
// Prints one JSON line: {ok, errors: [{code, message}], clientSchema} where
// clientSchema is the public (API) schema printed with types and fields sorted.
import { readFileSync } from "node:fs";
import { buildSchema, lexicographicSortSchema, parse, printSchema } from "graphql";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";

const subgraphs = JSON.parse(readFileSync(0, "utf8"));
let result;
try {
  result = composeServices(
    subgraphs.map((s) => ({ name: s.name, typeDefs: parse(s.sdl), url: "http://localhost/" + s.name })),
  );
} catch (error) {
  console.log(JSON.stringify({ ok: false, errors: [{ code: "EXCEPTION", message: String(error) }], clientSchema: null }));
  process.exit(0);
}
if (compositionHasErrors(result)) {
  console.log(
    JSON.stringify({
      ok: false,
      errors: result.errors.map((e) => ({ code: e.extensions?.code ?? null, message: e.message })),
      clientSchema: null,
    }),
  );
} else {
  const schema = lexicographicSortSchema(buildSchema(result.publicSdl));
  console.log(JSON.stringify({ ok: true, errors: [], clientSchema: printSchema(schema) }));
}
