import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { AddressSchema } from "../../core/account.ts";
import { NotFoundError } from "../../core/errors.ts";
import type { App } from "../env.ts";
import { errorResponses, json, optionalBearer } from "../openapi.ts";

/** What a wallet needs to act on the platform's contracts: the chain, the addresses, and (locally) an RPC URL. */
export const ChainInfo = z
  .object({
    chainId: z.number().int().positive(),
    contracts: z.object({
      rewardsDistributor: AddressSchema,
      paymentEscrow: AddressSchema,
      token: AddressSchema.meta({ description: "The ERC-20 prices and payments are in" }),
      datanetRegistry: AddressSchema.optional(),
      adapterRegistry: AddressSchema.optional(),
    }),
    rpcUrl: z.string().optional().meta({ description: "A JSON-RPC endpoint for browsers; only the local deployment names one (a browser wallet brings its own)" }),
    local: z.boolean().meta({ description: "The local development chain (EDR): a dev wallet may fund itself with gas and test tokens there" }),
  })
  .meta({ id: "ChainInfo" });
export type ChainInfo = z.infer<typeof ChainInfo>;

const route = createRoute({
  method: "get",
  path: "/v1/chain",
  tags: ["payments"],
  summary: "The chain and contracts",
  description: "Chain id and contract addresses, public on chain anyway: what a wallet needs to claim rewards or open a payment channel. 404 while no chain is wired.",
  security: optionalBearer,
  responses: { 200: json(ChainInfo, "The chain"), ...errorResponses(401, 404) },
});

/** The chain's public facts; `info` answers undefined until the deployment's chain is up. */
export function chainRoutes(app: App, info: () => ChainInfo | undefined): void {
  app.openapi(route, (c) => {
    const chain = info();
    if (!chain) throw new NotFoundError("Chain");
    c.header("cache-control", "public, max-age=60");
    return c.json(chain, 200);
  });
}
