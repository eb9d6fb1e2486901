import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { testStack } from "./test-stack.ts";

const { template, stack, nagReport } = testStack();
const https = testStack({ env: { region: "us-east-1", account: "123456789012" }, inference: { certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/abc" } });
const inference = stack.inference!;
const logicalId = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);

function statementsOf(roleLogicalId: string): { Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: roleLogicalId }] } });
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
}

describe("Inference: ECS on GPU capacity", () => {
  it("runs g5 instances from the ECS GPU-optimised AMI as the cluster's capacity provider, with managed scaling", () => {
    const lt = Object.values(template.findResources("AWS::EC2::LaunchTemplate")).find((r) => r.Properties.LaunchTemplateData.InstanceType === "g5.xlarge");
    expect(lt).toBeDefined();
    const data = lt!.Properties.LaunchTemplateData;
    const amiParameter = template.toJSON().Parameters[data.ImageId.Ref];
    expect(amiParameter.Default).toBe("/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id");
    expect(data.MetadataOptions).toMatchObject({ HttpTokens: "required", HttpPutResponseHopLimit: 1 });
    expect(data.BlockDeviceMappings[0].Ebs.Encrypted).toBe(true);
    template.hasResourceProperties("AWS::ECS::CapacityProvider", {
      AutoScalingGroupProvider: { ManagedScaling: { Status: "ENABLED", TargetCapacity: 100 } },
    });
    template.hasResourceProperties("AWS::ECS::Service", {
      CapacityProviderStrategy: [{ CapacityProvider: Match.anyValue(), Weight: 1 }],
      HealthCheckGracePeriodSeconds: 600,
    });
  });

  it("gives vLLM one GPU with runtime LoRA updating and the LoRA limits, and puts the gateway in front of it", () => {
    const [td] = Object.values(template.findResources("AWS::ECS::TaskDefinition")).filter((t) => t.Properties.ContainerDefinitions.some((c: { Name: string }) => c.Name === "vllm"));
    const containers = td!.Properties.ContainerDefinitions as Array<Record<string, any>>;
    const vllm = containers.find((c) => c.Name === "vllm")!;
    expect(vllm.ResourceRequirements).toEqual([{ Type: "GPU", Value: "1" }]);
    expect(vllm.Command).toEqual(expect.arrayContaining(["--enable-lora", "--max-loras", "8", "--max-cpu-loras", "64", "--max-lora-rank", "64"]));
    expect(vllm.Environment).toContainEqual({ Name: "VLLM_ALLOW_RUNTIME_LORA_UPDATING", Value: "True" });
    const gateway = containers.find((c) => c.Name === "gateway")!;
    expect(gateway.Environment).toEqual(expect.arrayContaining([{ Name: "BACKEND", Value: "vllm" }, { Name: "VLLM_URL", Value: "http://127.0.0.1:8000" }]));
    expect(gateway.DependsOn).toEqual([{ ContainerName: "vllm", Condition: "HEALTHY" }]);
    expect(vllm.DependsOn).toEqual([{ ContainerName: "stage-model", Condition: "SUCCESS" }]);
    for (const c of containers) expect(c.LogConfiguration.LogDriver).toBe("awslogs");
  });

  it("an internal ALB with a long idle timeout and access logs health-checks /readyz; HTTPS when a certificate is given", () => {
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::LoadBalancer", {
      Scheme: "internal",
      LoadBalancerAttributes: Match.arrayWith([{ Key: "idle_timeout.timeout_seconds", Value: "600" }]),
    });
    // with a region (every deploy) access logs go to their own bucket
    https.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::LoadBalancer", { LoadBalancerAttributes: Match.arrayWith([{ Key: "access_logs.s3.enabled", Value: "true" }]) });
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", { HealthCheckPath: "/readyz", TargetType: "ip", Port: 8080 });
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", { Port: 80, Protocol: "HTTP" });
    https.template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", { Port: 443, Protocol: "HTTPS", Certificates: [{ CertificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/abc" }] });
    expect(Object.values(https.template.findResources("AWS::ElasticLoadBalancingV2::Listener")).some((l) => l.Properties.Protocol === "HTTP")).toBe(false);
  });

  it("scales the service by target tracking on calls in flight per task", () => {
    template.hasResourceProperties("AWS::ApplicationAutoScaling::ScalingPolicy", {
      PolicyType: "TargetTrackingScaling",
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 24,
        CustomizedMetricSpecification: Match.objectLike({ Namespace: "OpenLoRA", MetricName: "InFlightCalls" }),
      }),
    });
  });

  it("lets the task role read only adapter files and the base model in S3, and only adapter records and API keys in the table", () => {
    const role = logicalId(inference.taskDefinition.taskRole as never);
    const statements = statementsOf(role);
    const actions = statements.flatMap((s) => [s.Action].flat());
    for (const forbidden of ["s3:PutObject", "s3:DeleteObject*", "s3:DeleteObject", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]) {
      expect(actions).not.toContain(forbidden);
    }
    const s3Resources = JSON.stringify(statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("s3:GetObject"))).map((s) => s.Resource));
    expect(s3Resources).toContain("/jobs/*/output/adapter_model.safetensors");
    expect(s3Resources).toContain("/jobs/*/output/adapter_config.json");
    expect(s3Resources).toContain("/base-models/mf-tiny-sotu/*");
    expect(s3Resources).not.toMatch(/"\/\*"|\/jobs\/\*"/);
    const get = statements.find((s) => [s.Action].flat().includes("dynamodb:GetItem"))!;
    expect(get.Condition).toEqual({ "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["ADAPTER#*", "APIKEY#*"] } });
  });

  it("passes cdk-nag's AWS Solutions checks with every exception acknowledged", () => {
    const report = nagReport();
    const findings = report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${(r as { constructPath?: string }).constructPath ?? r.resourceLogicalId}`));
    expect(findings.filter((f) => f.includes("/Inference/"))).toEqual([]);
  });
});
