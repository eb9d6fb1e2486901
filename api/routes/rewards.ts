import { createRoute } from "@hono/zod-openapi";
import { getAddress } from "ethers";
import { z } from "zod";
import { AddressSchema } from "../../core/account.ts";
import type { TableStore } from "../../core/ports/tables.ts";
import { getRewards, Rewards } from "../../core/payments/rewards.ts";
import type { App } from "../env.ts";
import { bearer, errorResponses, json } from "../openapi.ts";

const route = createRoute({
  method: "get",
  path: "/v1/rewards/{address}",
  tags: ["payments"],
  summary: "An account's earnings and claim proofs",
  description:
    "Per settled epoch: the amount, whether it was claimed, and the Merkle proof `RewardsDistributor.claim(epoch, account, amount, proof)` accepts; totals earned, claimed, claimable and pending (calls not settled yet). Rewards are public on chain, so any signed-in caller may look.",
  security: bearer,
  request: { params: z.object({ address: AddressSchema }) },
  responses: { 200: json(Rewards, "The earnings"), ...errorResponses(400, 401) },
});

/** Earnings and claims. */
export function rewardRoutes(app: App, usage: TableStore, isClaimed?: (epoch: number, account: string) => Promise<boolean>): void {
  app.openapi(route, async (c) => c.json(await getRewards(usage, getAddress(c.req.valid("param").address), isClaimed), 200));
}
