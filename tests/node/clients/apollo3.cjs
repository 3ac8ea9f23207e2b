// Apollo Client 3 as its Node users run it (CommonJS, @apollo/client/core): a query
// through its persisted-queries link (APQ), then a subscription over multipart HTTP.
// usage: node apollo3.cjs URL; prints one JSON line a result, then "complete".
const { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } = require("apollo-client-3/core");
const { createPersistedQueryLink } = require("apollo-client-3/link/persisted-queries");
const { createHash } = require("node:crypto");

const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const client = new ApolloClient({
  link: ApolloLink.from([
    createPersistedQueryLink({ sha256 }),
    new HttpLink({ uri: process.argv[2] }),
  ]),
  cache: new InMemoryCache(),
});

(async () => {
  const { data } = await client.query({ query: gql`{ listeners(topic: "news") }` });
  console.log(JSON.stringify(data));
  client.subscribe({ query: gql`subscription { count(to: 3) }` }).subscribe({
    next: (result) => console.log(JSON.stringify(result.data)),
    error: (error) => {
      console.log(JSON.stringify({ error: String(error) }));
      process.exitCode = 1;
    },
    complete: () => console.log("complete"),
  });
})();
