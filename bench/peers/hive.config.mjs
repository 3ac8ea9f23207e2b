// Hive Gateway configuration for the peers bench, loaded with `hive-gateway -c`.
// BENCH_HIVE_DEDUP=0 turns off the outbound in-flight request deduplication that is on by
// default (documented as `transportEntries['*.http'].options.deduplicateInflightRequests`).
import { defineConfig } from "@graphql-hive/gateway";

const dedup = process.env.BENCH_HIVE_DEDUP !== "0";

export const gatewayConfig = defineConfig({
  logging: "warn",
  graphiql: false,
  landingPage: false,
  transportEntries: {
    "*.http": { options: { deduplicateInflightRequests: dedup } },
  },
});
