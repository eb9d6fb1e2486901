import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Contract, JsonRpcProvider } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifacts } from "../../contracts/artifacts/index.ts";
import { startLocalChain, type LocalChain } from "./local-chain.ts";

let chain: LocalChain;
const configDir = mkdtempSync(join(tmpdir(), "mf-chain-"));
const configPath = join(configDir, "chain.json");

beforeAll(async () => {
  chain = await startLocalChain({ configPath, rpcPort: 0 });
});
afterAll(async () => {
  await chain.close();
  rmSync(configDir, { recursive: true, force: true });
});

describe("startLocalChain", () => {
  it("deploys the contracts and writes their addresses to the config file", async () => {
    const config = JSON.parse(readFileSync(configPath, "utf8"));
    expect(config).toEqual(chain.addresses);
    expect(config.chainId).toBe(31337);
    for (const k of ["datanetRegistry", "adapterRegistry", "paymentEscrow", "rewardsDistributor", "token"]) {
      expect(await chain.provider.getCode(config[k]), k).not.toBe("0x");
    }
  });

  it("serves JSON-RPC to other processes, with funded development accounts", async () => {
    const rpc = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true });
    try {
      expect(Number((await rpc.getNetwork()).chainId)).toBe(31337);
      const token = new Contract(chain.addresses.token, artifacts.TestToken.abi as never, rpc);
      expect(await token.getFunction("balanceOf")(chain.accounts[0]!.address)).toBe(1_000_000_000n);
    } finally {
      rpc.destroy();
    }
  });

  it("answers a body that is not JSON with a JSON-RPC parse error", async () => {
    const res = await fetch(chain.rpcUrl!, { method: "POST", body: "{nope", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe(-32700);
  });
});
