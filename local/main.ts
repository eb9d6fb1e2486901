/**
 * `npm start`: the whole platform on this machine. State lives in $DATA_DIR
 * (default ./.data) and survives restarts; on an empty data directory a demo
 * is seeded unless DEMO=off.
 */
import { resolve } from "node:path";
import { limitsFrom } from "../core/config.ts";
import { seedDemo } from "./demo/seed-demo.ts";
import { startPlatform } from "./platform.ts";

const port = Number(process.env.PORT ?? 8787);
const dataDir = resolve(process.env.DATA_DIR ?? ".data");
const demo = (process.env.DEMO ?? "on").toLowerCase() !== "off";

const platform = await startPlatform({
  dataDir,
  port,
  hostname: process.env.HOST ?? "127.0.0.1",
  ...(process.env.PUBLIC_URL ? { publicOrigin: process.env.PUBLIC_URL } : {}),
  logLevel: (process.env.LOG_LEVEL?.toUpperCase() as "INFO" | undefined) ?? "WARN",
  chainRpcPort: Number(process.env.CHAIN_RPC_PORT ?? 8545),
  config: limitsFrom(process.env.LIMITS),
});

console.log(`
  Model Factory & OpenLoRA — local platform
  ─────────────────────────────────────────
  Web UI     ${platform.url}/
  API        ${platform.url}/v1   (OpenAPI: ${platform.url}/openapi.json)
  Data       ${dataDir}
  Chain      ${platform.chain.rpcUrl ?? "in-process"} (chain id ${platform.deps.config.chainId}; contracts in ${dataDir}/chain.json)
`);

if (demo) {
  try {
    await seedDemo(platform, dataDir);
  } catch (error) {
    console.error("  The demo could not be seeded:", error);
  }
}
console.log("  Press Ctrl+C to stop.\n");

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log("\n  Stopping: letting the work in progress finish…");
    await platform.stop();
    process.exit(0);
  });
}
