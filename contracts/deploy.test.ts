import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Contract, JsonRpcProvider } from "ethers";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { startEdr, type EdrChain } from "../adapters/chain/edr.ts";
import { serveJsonRpc, type JsonRpcServer } from "../adapters/chain/json-rpc-server.ts";
import { artifacts } from "./artifacts/index.ts";
import { OPERATOR_ROLE, REGISTRAR_ROLE } from "./deploy.ts";

const run = promisify(execFile);
let edr: EdrChain;
let rpc: JsonRpcServer;

beforeAll(async () => {
  edr = await startEdr();
  rpc = await serveJsonRpc(edr.eip1193, 0);
});
afterAll(async () => {
  await rpc.close();
  await edr.close();
});

describe("contracts/deploy.ts", () => {
  it("deploys to a chain given only an RPC URL and a key, and writes the addresses", async () => {
    const deployer = edr.wallets[3]!;
    const operator = edr.wallets[4]!.address;
    const dir = mkdtempSync(join(tmpdir(), "mf-deploy-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, "chain.json");
    const { stdout } = await run(process.execPath, ["contracts/deploy.ts", "--out", out, "--withdraw-delay", "900", "--operators", operator], {
      env: { ...process.env, RPC_URL: rpc.url, DEPLOYER_KEY: deployer.privateKey },
    });
    expect(stdout).toContain(`addresses in ${out}`);
    const addresses = JSON.parse(readFileSync(out, "utf8"));
    expect(addresses).toMatchObject({ chainId: 31337, deployer: deployer.address });
    const provider = new JsonRpcProvider(rpc.url, 31337, { staticNetwork: true });
    try {
      const escrow = new Contract(addresses.paymentEscrow, artifacts.PaymentEscrow.abi as never, provider);
      expect(await escrow.getFunction("withdrawDelay")()).toBe(900n);
      expect(await escrow.getFunction("token")()).toBe(addresses.token);
      const datanets = new Contract(addresses.datanetRegistry, artifacts.DatanetRegistry.abi as never, provider);
      const rewards = new Contract(addresses.rewardsDistributor, artifacts.RewardsDistributor.abi as never, provider);
      for (const account of [deployer.address, operator]) {
        expect(await datanets.getFunction("hasRole")(REGISTRAR_ROLE, account)).toBe(true);
        expect(await rewards.getFunction("hasRole")(OPERATOR_ROLE, account)).toBe(true);
      }
    } finally {
      provider.destroy();
    }
  });

  it("refuses to run without RPC_URL and DEPLOYER_KEY", async () => {
    const env = { ...process.env };
    delete env.RPC_URL;
    delete env.DEPLOYER_KEY;
    await expect(run(process.execPath, ["contracts/deploy.ts"], { env })).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("Set RPC_URL and DEPLOYER_KEY") });
  });
});
