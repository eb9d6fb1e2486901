// The metric the ECS service scales on (shared by main.ts, which emits it, and
// infra/lib/inference.ts, which tracks it): calls in flight per gateway task.
export const INFLIGHT_METRIC = { namespace: "OpenLoRA", name: "InFlightCalls", service: "openlora-gateway" } as const;
