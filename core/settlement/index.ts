export { splitFee, splitFeeParts, distributorPlatformShare, type Shares, type Weight, type Split, type SplitInput, type SplitParts } from "./split.ts";
export { closeEpoch, type ClosedEpoch, type EpochCall } from "./close-epoch.ts";
export { buildEpochTree, REWARD_LEAF_ENCODING, type EpochTree } from "./rewards-tree.ts";
export { assignCall, type AssignDeps } from "./assign-call.ts";
export { settleClosedPeriods, settlePeriod, getSettlement, planRedemption, type SettlementDeps, type SettleResult, type SettlementState } from "./settle-period.ts";
export * from "./keys.ts";
export { finalizeAttribution, attributionInputItem, recordAttribution, ATTRIBUTION_INPUT_TTL_SECONDS, type AttributionInput, type CallAttributor, type FinalizeDeps, type FinalizeResult } from "./final-attribution.ts";
export { callSettlement, CallSettlement, FeeSplit } from "./call-split.ts";
