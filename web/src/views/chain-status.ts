import type { ChainStatus } from "../../../core/chain/model.ts";
import { h } from "../dom.ts";
import { shortHex } from "../format.ts";
import { badge, hexValue } from "./common.ts";

const KIND = { pending: "", submitted: "warn", confirmed: "ok", failed: "bad" } as const;

/** An on-chain registration status as a badge. */
export function chainBadge(chain: ChainStatus): HTMLElement {
  const el = badge(chain.status === "confirmed" ? "on chain" : chain.status, KIND[chain.status]);
  el.dataset.chain = chain.status;
  return el;
}

/** The registration's facts: status, transaction hash, block, chain id, and the error of a failed one. */
export function chainFacts(chain: ChainStatus): HTMLElement {
  return h("dl", { class: "facts", "data-testid": "chain-status" },
    h("dt", {}, "Status"), h("dd", {}, chainBadge(chain)),
    h("dt", {}, "Transaction"), h("dd", {}, chain.txHash ? hexValue(chain.txHash, shortHex(chain.txHash, 10, 8)) : h("span", { class: "muted" }, "not sent yet")),
    h("dt", {}, "Block"), h("dd", {}, chain.blockNumber !== null ? String(chain.blockNumber) : "—"),
    h("dt", {}, "Chain id"), h("dd", {}, chain.chainId !== null ? String(chain.chainId) : "—"),
    chain.error ? [h("dt", {}, "Error"), h("dd", { class: "reason" }, chain.error)] : null);
}
