import { Interface, type InterfaceAbi } from "ethers";
import { artifacts } from "../../contracts/artifacts/index.ts";
import { isTransientRpcError } from "./retry.ts";

/** Every error the platform's contracts can raise (their custom errors are uniquely named). */
const errors = new Interface(
  (["DatanetRegistry", "AdapterRegistry", "PaymentEscrow", "RewardsDistributor"] as const).flatMap((name) =>
    (artifacts[name].abi as { type: string }[]).filter((f) => f.type === "error"),
  ) as InterfaceAbi,
);

/** The revert data carried by an ethers or JSON-RPC error, if any. */
export function revertDataOf(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const walk = (e: unknown): string | undefined => {
    if (!e || typeof e !== "object" || seen.has(e)) return undefined;
    seen.add(e);
    const o = e as Record<string, unknown>;
    if (typeof o.data === "string" && /^0x[0-9a-fA-F]{8,}/.test(o.data)) return o.data;
    for (const k of ["error", "info", "cause", "data"]) {
      const found = walk(o[k]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(error);
}

/** A readable reason for a revert: `ErrorName(arg, ...)` for known custom errors, else the node's message. */
export function revertReason(error: unknown): string {
  const data = revertDataOf(error);
  if (data) {
    try {
      const parsed = errors.parseError(data);
      if (parsed) return `${parsed.name}(${parsed.args.map(String).join(", ")})`;
    } catch {
      // not one of ours; fall through
    }
  }
  const e = error as { revert?: { name: string; args: unknown[] }; reason?: unknown; shortMessage?: unknown; message?: unknown };
  if (e?.revert) return `${e.revert.name}(${e.revert.args.map(String).join(", ")})`;
  if (typeof e?.reason === "string" && e.reason) return e.reason;
  if (typeof e?.shortMessage === "string") return e.shortMessage;
  return typeof e?.message === "string" ? e.message : String(error);
}

/** Whether an ethers error is a revert (at estimation, call, or in a receipt), not a node failure dressed as one. */
export function isRevert(error: unknown): boolean {
  return (error as { code?: unknown })?.code === "CALL_EXCEPTION" && !isTransientRpcError(error);
}
