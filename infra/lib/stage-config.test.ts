import { RemovalPolicy } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import { DEFAULT_CHAIN_ID, stageConfig } from "./stage-config.ts";

const from = (values: Record<string, unknown>) => stageConfig((key) => values[key]);

describe("stageConfig", () => {
  it("defaults to a safe development stage: dev, Base Sepolia, RETAIN, CPU training, endpoints in one AZ", () => {
    const { stackId, props } = from({ apiOrigin: "https://api.example.com" });
    expect(stackId).toBe("ModelFactory-dev");
    expect(props.chainId).toBe(DEFAULT_CHAIN_ID);
    expect(DEFAULT_CHAIN_ID).not.toBe(8453); // never mainnet by default
    expect(props.removalPolicy).toBe(RemovalPolicy.RETAIN);
    expect(props.training).toEqual({ backend: "embedded" });
    expect(props.singleAzEndpoints).toBe(true);
  });

  it("puts the stage in the stack id; production gets endpoints in every AZ", () => {
    const { stackId, props } = from({ stage: "prod", apiOrigin: "https://api.example.com", chainId: "8453" });
    expect(stackId).toBe("ModelFactory-prod");
    expect(props.singleAzEndpoints).toBe(false);
    expect(props.chainId).toBe(8453);
  });

  it("reads the domain, certificate, trainer backend, image, vCPUs, timeout, removal policy and alarm email", () => {
    const digest = `sha256:${"0".repeat(64)}`;
    const { props } = from({
      domain: "example.com",
      certificateArn: "arn:aws:acm:us-east-1:1:certificate/x",
      trainerBackend: "pytorch-gpu",
      trainerImage: digest,
      maxvCpus: "64",
      trainerTimeoutHours: 6,
      removalPolicy: "destroy",
      alarmEmail: "ops@example.com",
    });
    expect(props.apiOrigin).toBe("https://api.example.com");
    expect(props.webOrigins).toEqual(["https://app.example.com"]);
    expect(props.domain).toEqual({ name: "example.com", certificateArn: "arn:aws:acm:us-east-1:1:certificate/x" });
    expect(props.training).toMatchObject({ backend: "pytorch-gpu", trainerImage: digest, maxvCpus: 64 });
    expect(props.training?.attemptTimeout?.toHours()).toBe(6);
    expect(props.removalPolicy).toBe(RemovalPolicy.DESTROY);
    expect(props.alarmEmail).toBe("ops@example.com");
  });

  it("names the context key of every bad value", () => {
    expect(() => from({ stage: "Prod!", apiOrigin: "https://a.example" })).toThrow(/modelfactory:stage/);
    expect(() => from({ apiOrigin: "https://a.example", chainId: "base" })).toThrow(/modelfactory:chainId/);
    expect(() => from({ apiOrigin: "https://a.example", removalPolicy: "snapshot" })).toThrow(/modelfactory:removalPolicy/);
    expect(() => from({ apiOrigin: "https://a.example", trainerBackend: "tpu" })).toThrow(/modelfactory:trainerBackend/);
    expect(() => from({ domain: "not a domain" })).toThrow(/modelfactory:domain/);
    expect(() => from({})).toThrow(/apiOrigin or modelfactory:domain/);
  });

  it("settles hourly unless the context names another settlement period", () => {
    expect(from({ apiOrigin: "https://a.example" }).props.settlement).toBeUndefined(); // Settlement's default: 3600 s
    expect(from({ apiOrigin: "https://a.example", settlementEpochSeconds: "600", settlementGraceSeconds: "30" }).props.settlement).toEqual({ epochSeconds: 600, graceSeconds: 30 });
    expect(() => from({ apiOrigin: "https://a.example", settlementEpochSeconds: "hourly" })).toThrow(/modelfactory:settlementEpochSeconds/);
  });
});
