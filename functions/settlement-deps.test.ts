import { describe, expect, it } from "vitest";
import { awsChainEventsDeps, awsRecordUsageDeps, readSettlementEnv } from "./settlement-deps.ts";

const ENV = { TABLE_USAGE: "usage", CHAIN_ID: "8453", SETTLEMENT_EPOCH_SECONDS: "3600", SETTLEMENT_GRACE_SECONDS: "120", SETTLEMENT_SHARES: JSON.stringify({ contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 }) };

describe("settlement function environments", () => {
  it("names every missing or malformed variable, and those the function needs", () => {
    expect(() => readSettlementEnv({ CHAIN_ID: "x" }, [])).toThrow(/TABLE_USAGE.*CHAIN_ID|CHAIN_ID.*TABLE_USAGE/);
    expect(() => readSettlementEnv(ENV, ["TABLE_MAIN", "CHAIN_SIGNER_SECRET_ID"])).toThrow(/TABLE_MAIN: required by this function; CHAIN_SIGNER_SECRET_ID: required/);
  });

  it("builds record-usage on the usage table with the shares and period it is given, and refuses shares that do not add up", () => {
    const deps = awsRecordUsageDeps(ENV);
    expect(deps).toMatchObject({ epochSeconds: 3600, shares: { contributorsBps: 7000, ownersBps: 2000, platformBps: 1000 } });
    expect(deps.attribute).toBeUndefined();
    expect(() => awsRecordUsageDeps({ ...ENV, SETTLEMENT_SHARES: JSON.stringify({ contributorsBps: 7000, ownersBps: 2000, platformBps: 999 }) })).toThrow(/10 000/);
  });

  it("refuses chain addresses for another chain", async () => {
    const addresses = { chainId: 1, datanetRegistry: "0x1", adapterRegistry: "0x2", paymentEscrow: "0x3", rewardsDistributor: "0x4", token: "0x5", deployer: "0x6", fromBlock: 0 };
    await expect(awsChainEventsDeps({ ...ENV, CHAIN_ADDRESSES: JSON.stringify(addresses), CHAIN_RPC_URL: "https://rpc.example.com" })).rejects.toThrow(/chain 1, not 8453/);
  });
});
