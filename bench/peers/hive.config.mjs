// Hive Gateway configuration for the peers bench, loaded with `hive-gateway -c`.
// Environment switches (each off unless set to "1", except BENCH_HIVE_DEDUP):
// - BENCH_HIVE_DEDUP=0 turns off the outbound in-flight request deduplication that is on
//   by default (documented as `transportEntries['*.http'].options.deduplicateInflightRequests`);
// - BENCH_HIVE_INBOUND=1 turns on `inboundInflightRequestDeduplication` (identical
//   concurrent client requests share one execution), as graphql-gateways-benchmark does;
// - BENCH_HIVE_ROUTER=1 plans with the Rust query planner of `@graphql-hive/router-runtime`
//   (its `unifiedGraphHandler`), as that repository's hive-gateway-router-runtime does.
import { defineConfig } from "@graphql-hive/gateway";

const dedup = process.env.BENCH_HIVE_DEDUP !== "0";
const inbound = process.env.BENCH_HIVE_INBOUND === "1";
const router = process.env.BENCH_HIVE_ROUTER === "1";

const extra = {};
if (router) {
  const { unifiedGraphHandler } = await import("@graphql-hive/router-runtime");
  extra.unifiedGraphHandler = unifiedGraphHandler;
}
if (inbound) extra.inboundInflightRequestDeduplication = true;

export const gatewayConfig = defineConfig({
  logging: "warn",
  graphiql: false,
  landingPage: false,
  transportEntries: {
    "*.http": { options: { deduplicateInflightRequests: dedup } },
  },
  ...extra,
});
