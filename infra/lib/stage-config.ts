import { Duration, RemovalPolicy } from "aws-cdk-lib";
import type { ModelFactoryStackProps } from "./stack.ts";
import { TRAINER_BACKENDS, type TrainerBackend } from "./training-compute.ts";

/** Base Sepolia: a testnet, so a stage deployed without a chain id never signs on mainnet. */
export const DEFAULT_CHAIN_ID = 84532;
export const DEFAULT_STAGE = "dev";
/** Stages that get production defaults: endpoints in every AZ. */
const PRODUCTION_STAGES = new Set(["prod", "production"]);

/** What a stage is built from: `cdk deploy -c modelfactory:<key>=<value>` (or cdk.json's context). */
export type ContextReader = (key: string) => unknown;

/**
 * The stack id and props of one stage, read from context with safe defaults:
 * stage `dev`, Base Sepolia (84532), RETAIN, the embedded engine on CPU
 * instances, interface endpoints in one AZ outside production. Bad values
 * throw with the context key named.
 */
export function stageConfig(context: ContextReader): { stackId: string; stage: string; props: Omit<ModelFactoryStackProps, "env" | "chain"> } {
  const stage = text(context, "stage") ?? DEFAULT_STAGE;
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(stage)) throw new Error(`modelfactory:stage must be lower-case letters, digits and dashes (at most 16), got ${stage}`);
  const domain = text(context, "domain");
  if (domain !== undefined && !/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domain)) throw new Error(`modelfactory:domain must be a DNS name, got ${domain}`);
  const apiOrigin = text(context, "apiOrigin") ?? (domain ? `https://api.${domain}` : undefined);
  if (!apiOrigin) throw new Error("modelfactory:apiOrigin or modelfactory:domain is required");
  const webOriginsValue = context("webOrigins");
  const webOrigins = typeof webOriginsValue === "string" ? webOriginsValue.split(",").map((o) => o.trim()).filter(Boolean) : Array.isArray(webOriginsValue) ? webOriginsValue.map(String) : domain ? [`https://app.${domain}`] : [];

  const removal = text(context, "removalPolicy") ?? "retain";
  if (removal !== "retain" && removal !== "destroy") throw new Error(`modelfactory:removalPolicy must be retain or destroy, got ${removal}`);
  const backend = text(context, "trainerBackend") ?? "embedded";
  if (!(TRAINER_BACKENDS as readonly string[]).includes(backend)) throw new Error(`modelfactory:trainerBackend must be one of ${TRAINER_BACKENDS.join(", ")}, got ${backend}`);
  const trainerImage = text(context, "trainerImage");
  const maxvCpus = integer(context, "maxvCpus");
  const attemptHours = integer(context, "trainerTimeoutHours");
  const alarmEmail = text(context, "alarmEmail");
  const certificateArn = text(context, "certificateArn");
  const singleAz = context("singleAzEndpoints");
  // Pay-per-call settlement: hourly unless `-c modelfactory:settlementEpochSeconds=<n>` (whole minutes).
  const epochSeconds = integer(context, "settlementEpochSeconds");
  const graceSeconds = integer(context, "settlementGraceSeconds");

  return {
    stage,
    stackId: `ModelFactory-${stage}`,
    props: {
      description: `Model Factory & OpenLoRA (${stage})`,
      apiOrigin,
      chainId: integer(context, "chainId") ?? DEFAULT_CHAIN_ID,
      webOrigins,
      removalPolicy: removal === "destroy" ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      singleAzEndpoints: singleAz === undefined ? !PRODUCTION_STAGES.has(stage) : [true, "true"].includes(singleAz as never),
      training: {
        backend: backend as TrainerBackend,
        ...(trainerImage ? { trainerImage } : {}),
        ...(maxvCpus !== undefined ? { maxvCpus } : {}),
        ...(attemptHours !== undefined ? { attemptTimeout: Duration.hours(attemptHours) } : {}),
      },
      ...(alarmEmail ? { alarmEmail } : {}),
      ...(epochSeconds !== undefined || graceSeconds !== undefined ? { settlement: { ...(epochSeconds !== undefined ? { epochSeconds } : {}), ...(graceSeconds !== undefined ? { graceSeconds } : {}) } } : {}),
      // `-c modelfactory:edge=false` leaves CloudFront and WAF out (a stack outside us-east-1).
      edge: ![false, "false"].includes(context("edge") as never),
      ...(domain ? { domain: { name: domain, ...(certificateArn ? { certificateArn } : {}) } } : {}),
    },
  };
}

function text(context: ContextReader, key: string): string | undefined {
  const value = context(key);
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string" && typeof value !== "number") throw new Error(`modelfactory:${key} must be a string, got ${JSON.stringify(value)}`);
  return String(value).trim();
}

function integer(context: ContextReader, key: string): number | undefined {
  const value = text(context, key);
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(value)) throw new Error(`modelfactory:${key} must be a positive integer, got ${value}`);
  return Number(value);
}
