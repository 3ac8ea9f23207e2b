// Composes subgraphs with @theguild/federation-composition, the reference our own
// composition is checked against. Reads JSON from stdin: {case: [{name, sdl, url?}, ...]},
// subgraphs in declaration order. Prints one JSON line: {case: {ok, errors, clientSchema,
// supergraphSdl}}
// where errors are [{code, message}] and clientSchema is the public (API) schema,
// printed with types and fields sorted, and supergraphSdl the supergraph it writes
// (both null when composition fails).
import { readFileSync } from "node:fs";
import { buildSchema, lexicographicSortSchema, parse, printSchema } from "graphql";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";

function compose(subgraphs) {
  let result;
  try {
    result = composeServices(
      subgraphs.map((s) => ({ name: s.name, typeDefs: parse(s.sdl), url: s.url ?? `http://localhost/${s.name}` })),
    );
  } catch (error) {
    return { ok: false, errors: [{ code: "EXCEPTION", message: String(error) }], clientSchema: null, supergraphSdl: null };
  }
  if (compositionHasErrors(result)) {
    return {
      ok: false,
      errors: result.errors.map((e) => ({ code: e.extensions?.code ?? null, message: e.message })),
      clientSchema: null,
      supergraphSdl: null,
    };
  }
  const schema = lexicographicSortSchema(buildSchema(result.publicSdl));
  return { ok: true, errors: [], clientSchema: printSchema(schema), supergraphSdl: result.supergraphSdl };
}

const cases = JSON.parse(readFileSync(0, "utf8"));
const results = {};
for (const [name, subgraphs] of Object.entries(cases)) {
  results[name] = compose(subgraphs);
}
console.log(JSON.stringify(results));
