import { Duration } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { testStack } from "./test-stack.ts";
import { JOB_EVENTS_TIMEOUT, START_JOB_TIMEOUT, SWEEP_RATE } from "./training.ts";

const { template, stack } = testStack();
const DIGEST = `sha256:${"ab".repeat(32)}`;
/** The same stack with the PyTorch GPU backend, a pinned image, a 64-vCPU cap and a 3-hour attempt timeout. */
const gpu = testStack({ training: { backend: "pytorch-gpu", trainerImage: DIGEST, maxvCpus: 64, attemptTimeout: Duration.hours(3) } });
const gpuResource = (type: string, construct: { node: { defaultChild?: unknown } }) =>
  gpu.template.findResources(type)[gpu.stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0])]!;
const training = stack.training;
const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
const resource = (type: string, construct: { node: { defaultChild?: unknown } }) => template.findResources(type)[logicalId(construct)]!;
const bucket = logicalId(stack.datanets.bucket);
const jobQueueArn = () => ({ "Fn::GetAtt": [logicalId(training.compute.jobQueue), "JobQueueArn"] });

/** Every statement of the policies attached to a role. */
function statementsOf(role: { node: { defaultChild?: unknown } }): { Action: string | string[]; Resource: unknown; Condition?: unknown }[] {
  const policies = template.findResources("AWS::IAM::Policy", { Properties: { Roles: [{ Ref: logicalId(role) }] } });
  return Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
}
const actionsOf = (role: { node: { defaultChild?: unknown } }) => statementsOf(role).flatMap((s) => [s.Action].flat());
/** The S3 object prefixes a statement with these actions covers, as `prefix*` strings. */
function prefixesFor(role: { node: { defaultChild?: unknown } }, action: string): string[] {
  return statementsOf(role)
    .filter((s) => [s.Action].flat().includes(action))
    .flatMap((s) => [s.Resource].flat())
    .flatMap((r) => {
      const join = (r as { "Fn::Join"?: [string, unknown[]] })["Fn::Join"];
      if (!join) return [];
      const [first, second] = join[1] as [unknown, string];
      return (first as { "Fn::GetAtt"?: string[] })["Fn::GetAtt"]?.[0] === bucket ? [second.replace(/^\//, "")] : [];
    });
}

describe("Training: Batch compute", () => {
  it("runs the embedded engine on CPU instances (m7i, ECS AL2023 AMI) by default, scaled to zero when idle", () => {
    for (const env of [training.compute.spotEnvironment, training.compute.onDemandEnvironment]) {
      const ce = resource("AWS::Batch::ComputeEnvironment", env);
      expect(ce.Properties.Type).toBe("managed");
      const resources = ce.Properties.ComputeResources;
      expect(resources.MinvCpus).toBe(0);
      expect(resources.MaxvCpus).toBe(16);
      expect(resources.InstanceTypes.sort()).toEqual(["m7i.large", "m7i.xlarge"]);
      expect(resources.Ec2Configuration).toEqual([{ ImageType: "ECS_AL2023" }]);
      expect(resources.Subnets.length).toBeGreaterThanOrEqual(2);
    }
  });

  it("runs the PyTorch GPU backend on g5 instances with the NVIDIA AMI, with the vCPU cap given", () => {
    for (const env of [gpu.stack.training.compute.spotEnvironment, gpu.stack.training.compute.onDemandEnvironment]) {
      const resources = gpuResource("AWS::Batch::ComputeEnvironment", env).Properties.ComputeResources;
      expect(resources.InstanceTypes.sort()).toEqual(["g5.2xlarge", "g5.xlarge"]);
      expect(resources.Ec2Configuration).toEqual([{ ImageType: "ECS_AL2023_NVIDIA" }]);
      expect(resources.MaxvCpus).toBe(64);
    }
  });

  it("takes Spot first (price-capacity-optimized) and falls back to on-demand", () => {
    const spot = resource("AWS::Batch::ComputeEnvironment", training.compute.spotEnvironment).Properties.ComputeResources;
    const onDemand = resource("AWS::Batch::ComputeEnvironment", training.compute.onDemandEnvironment).Properties.ComputeResources;
    expect(spot).toMatchObject({ Type: "SPOT", AllocationStrategy: "SPOT_PRICE_CAPACITY_OPTIMIZED" });
    expect(onDemand.Type).toBe("EC2");
    const queue = resource("AWS::Batch::JobQueue", training.compute.jobQueue).Properties;
    const order = Object.fromEntries(queue.ComputeEnvironmentOrder.map((o: { Order: number; ComputeEnvironment: { "Fn::GetAtt": string[] } }) => [o.ComputeEnvironment["Fn::GetAtt"][0], o.Order]));
    expect(order[logicalId(training.compute.spotEnvironment)]).toBeLessThan(order[logicalId(training.compute.onDemandEnvironment)]);
    // jobs stuck for want of capacity do not wait forever
    expect(queue.JobStateTimeLimitActions).toEqual(expect.arrayContaining([expect.objectContaining({ Action: "CANCEL", Reason: "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY" })]));
  });

  it("requires IMDSv2 on the instances, which sit in subnets without a route to the internet", () => {
    template.hasResourceProperties("AWS::EC2::LaunchTemplate", { LaunchTemplateData: Match.objectLike({ MetadataOptions: Match.objectLike({ HttpTokens: "required", HttpPutResponseHopLimit: 1 }) }) });
    template.resourceCountIs("AWS::EC2::NatGateway", 0);
    expect(Object.values(template.findResources("AWS::EC2::Route")).filter((r) => r.Properties.DestinationCidrBlock === "0.0.0.0/0")).toEqual([]);
    template.hasResourceProperties("AWS::EC2::VPCEndpoint", { VpcEndpointType: "Gateway", ServiceName: Match.objectLike({ "Fn::Join": Match.arrayWith([Match.arrayWith([".s3"])]) }) });
    const services = Object.values(template.findResources("AWS::EC2::VPCEndpoint")).map((e) => JSON.stringify(e.Properties.ServiceName));
    for (const s of ["ecr.api", "ecr.dkr", "ecs", "ecs-agent", "ecs-telemetry", "logs", "sqs"]) expect(services.some((n) => n.includes(`.${s}"`))).toBe(true);
  });
});

describe("Training: trainer job definition", () => {
  const def = () => resource("AWS::Batch::JobDefinition", training.compute.jobDefinition).Properties;

  it("embedded backend: asks for 2 vCPUs and 7 GiB and no GPU, on EC2", () => {
    expect(def().PlatformCapabilities).toEqual(["EC2"]);
    const requirements = def().ContainerProperties.ResourceRequirements;
    expect(requirements).toEqual(expect.arrayContaining([{ Type: "VCPU", Value: "2" }, { Type: "MEMORY", Value: "7168" }]));
    expect(requirements.some((r: { Type: string }) => r.Type === "GPU")).toBe(false);
  });

  it("GPU backend: asks for one GPU, 4 vCPUs and 14 GiB, tells the trainer its backend, and times out as given", () => {
    const props = gpuResource("AWS::Batch::JobDefinition", gpu.stack.training.compute.jobDefinition).Properties;
    expect(props.ContainerProperties.ResourceRequirements).toEqual(
      expect.arrayContaining([{ Type: "GPU", Value: "1" }, { Type: "VCPU", Value: "4" }, { Type: "MEMORY", Value: "14336" }]),
    );
    // the trainer's own name for its PyTorch backend (containers/trainer/main.ts refuses any other value)
    expect(props.ContainerProperties.Environment).toContainEqual({ Name: "TRAINER_BACKEND", Value: "torch" });
    expect(props.Timeout.AttemptDurationSeconds).toBe(3 * 3600);
  });

  it("CPU compute runs the engine from the CPU image; GPU compute, before a digest is given, the GPU image's own tag", () => {
    expect(def().ContainerProperties.Environment).toContainEqual({ Name: "TRAINER_BACKEND", Value: "engine" });
    expect(JSON.stringify(def().ContainerProperties.Image)).toContain(":bootstrap\"");
    const unpinnedGpu = testStack({ training: { backend: "pytorch-gpu" } });
    const job = Object.values(unpinnedGpu.template.findResources("AWS::Batch::JobDefinition"))[0]!.Properties.ContainerProperties;
    expect(JSON.stringify(job.Image)).toContain(":bootstrap-gpu");
    expect(job.Environment).toContainEqual({ Name: "TRAINER_BACKEND", Value: "torch" });
  });

  it("names the trainer image by digest, and the repository's tags are immutable", () => {
    const image = JSON.stringify(gpuResource("AWS::Batch::JobDefinition", gpu.stack.training.compute.jobDefinition).Properties.ContainerProperties.Image);
    expect(image).toContain(`@${DIGEST}`);
    gpu.template.hasResourceProperties("AWS::ECR::Repository", { ImageTagMutability: "IMMUTABLE", ImageScanningConfiguration: { ScanOnPush: true } });
  });

  it("refuses a trainer image that is not pinned by digest, and a vCPU cap below one trainer", () => {
    expect(() => testStack({ training: { trainerImage: "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:latest" } })).toThrow(/pinned by digest/);
    expect(() => testStack({ training: { maxvCpus: 1 } })).toThrow(/maxvCpus/);
  });

  it("retries on a Spot reclaim only, and limits each attempt's time", () => {
    expect(def().RetryStrategy).toEqual({
      Attempts: 5,
      EvaluateOnExit: [
        { Action: "RETRY", OnStatusReason: "Host EC2*" },
        { Action: "EXIT", OnReason: "*" },
      ],
    });
    expect(def().Timeout.AttemptDurationSeconds).toBe(12 * 3600);
  });

  it("runs the trainer image from the stack's repository with the bucket and job-events queue in its environment", () => {
    const props = def().ContainerProperties;
    expect(JSON.stringify(props.Image)).toContain(logicalId(training.compute.repository!));
    const env = Object.fromEntries(props.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
    expect(env).toMatchObject({ MF_RUNTIME: "aws", BUCKET: { Ref: bucket }, JOB_EVENTS_QUEUE_URL: { Ref: logicalId(training.queues.jobEvents) } });
    expect(props.JobRoleArn).toEqual({ "Fn::GetAtt": [logicalId(training.compute.jobRole), "Arn"] });
    expect(props.LogConfiguration.LogDriver).toBe("awslogs");
  });

  it("lets a run read base models, Datanet versions and its job's files, write only under jobs/, and send job events", () => {
    expect(prefixesFor(training.compute.jobRole, "s3:GetObject*").sort()).toEqual(["base-models/*", "datanets/*/versions/*", "jobs/*"]);
    expect(prefixesFor(training.compute.jobRole, "s3:PutObject")).toEqual(["jobs/*"]);
    const actions = actionsOf(training.compute.jobRole);
    expect(actions).toContain("sqs:SendMessage");
    expect(actions.some((a) => /^s3:Delete|^dynamodb:|^batch:/.test(a))).toBe(false);
    const sends = statementsOf(training.compute.jobRole).filter((s) => [s.Action].flat().includes("sqs:SendMessage"));
    expect(sends.map((s) => s.Resource)).toEqual([{ "Fn::GetAtt": [logicalId(training.queues.jobEvents), "Arn"] }]);
  });
});

describe("Training: job queues and functions", () => {
  it("jobs and job-events queues dead-letter after 5 receives, visibility at least 6x their consumer's timeout", () => {
    const cases = [
      [training.queues.jobs, training.queues.jobsDeadLetters, START_JOB_TIMEOUT],
      [training.queues.jobEvents, training.queues.jobEventsDeadLetters, JOB_EVENTS_TIMEOUT],
    ] as const;
    for (const [queue, dlq, timeout] of cases) {
      const q = resource("AWS::SQS::Queue", queue).Properties;
      expect(q.RedrivePolicy).toEqual({ deadLetterTargetArn: { "Fn::GetAtt": [logicalId(dlq), "Arn"] }, maxReceiveCount: 5 });
      expect(q.VisibilityTimeout).toBeGreaterThanOrEqual(6 * timeout.toSeconds());
      expect(q.SqsManagedSseEnabled).toBe(true);
    }
    expect(resource("AWS::Lambda::Function", training.pipeline.startJobFunction).Properties.Timeout).toBe(START_JOB_TIMEOUT.toSeconds());
    expect(resource("AWS::Lambda::Function", training.pipeline.jobEventsFunction).Properties.Timeout).toBe(JOB_EVENTS_TIMEOUT.toSeconds());
  });

  it("start-job and job-events consume their queues with partial batch failures", () => {
    for (const [fn, queue] of [[training.pipeline.startJobFunction, training.queues.jobs], [training.pipeline.jobEventsFunction, training.queues.jobEvents]] as const) {
      template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
        FunctionName: { Ref: logicalId(fn) },
        EventSourceArn: { "Fn::GetAtt": [logicalId(queue), "Arn"] },
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      });
    }
  });

  it("job functions know the jobs queue and the Batch queue and job definition", () => {
    for (const fn of [training.pipeline.startJobFunction, training.pipeline.jobEventsFunction, training.pipeline.sweepFunction, stack.api.handler]) {
      expect(resource("AWS::Lambda::Function", fn).Properties.Environment.Variables).toMatchObject({
        JOBS_QUEUE_URL: { Ref: logicalId(training.queues.jobs) },
        BATCH_JOB_QUEUE: jobQueueArn(),
        BATCH_JOB_DEFINITION: { Ref: logicalId(training.compute.jobDefinition) },
      });
    }
  });

  it("start-job may submit to this queue and job definition only, tag and terminate jobs, and write specs under jobs/", () => {
    const submit = statementsOf(training.pipeline.startJobFunction.role as never).filter((s) => [s.Action].flat().includes("batch:SubmitJob"));
    const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));
    expect(submit.flatMap((s) => [s.Resource].flat()).sort(byJson)).toEqual([jobQueueArn(), { Ref: logicalId(training.compute.jobDefinition) }].sort(byJson));
    const startActions = actionsOf(training.pipeline.startJobFunction.role as never);
    for (const action of ["batch:TerminateJob", "batch:TagResource", "sqs:SendMessage"]) expect(startActions).toContain(action);
    expect(prefixesFor(training.pipeline.startJobFunction.role as never, "s3:PutObject")).toEqual(["jobs/*"]);
    // the API creates and cancels jobs
    expect(actionsOf(stack.api.handler.role as never)).toEqual(expect.arrayContaining(["batch:TerminateJob", "sqs:SendMessage"]));
    expect(actionsOf(stack.api.handler.role as never)).not.toContain("batch:SubmitJob");
  });

  it("the API may read the trainers' output (for presigned adapter downloads), not the specs beside it", () => {
    expect(prefixesFor(stack.api.handler.role as never, "s3:GetObject*").sort()).toEqual(["datanets/*", "jobs/*/output/*"]);
  });

  it("job-events reads the trainer's output for finalize but writes no objects", () => {
    expect(prefixesFor(training.pipeline.jobEventsFunction.role as never, "s3:GetObject*")).toEqual(["jobs/*"]);
    expect(actionsOf(training.pipeline.jobEventsFunction.role as never)).not.toContain("s3:PutObject");
  });

  it("batch-job-state may only send to the job-events queue (and, as its on-failure destination, its failure queue)", () => {
    const role = training.pipeline.batchStateFunction.role as never;
    const sends = statementsOf(role).filter((s) => [s.Action].flat().includes("sqs:SendMessage"));
    const byJson = (x: unknown, y: unknown) => JSON.stringify(x).localeCompare(JSON.stringify(y));
    expect(sends.flatMap((s) => [s.Resource].flat()).sort(byJson)).toEqual(
      [{ "Fn::GetAtt": [logicalId(training.queues.jobEvents), "Arn"] }, { "Fn::GetAtt": [logicalId(training.pipeline.stateChangeFailures), "Arn"] }].sort(byJson),
    );
    expect(actionsOf(role).some((a) => /^(dynamodb|s3|batch):/.test(a))).toBe(false);
  });
});

describe("Training: job functions' DynamoDB access", () => {
  const main = logicalId(stack.tables.main);
  /** A role's DynamoDB statements: resource (table or index), actions, and the partition-key patterns allowed. */
  const dynamoAccess = (role: { node: { defaultChild?: unknown } }) =>
    statementsOf(role)
      .filter((s) => [s.Action].flat().some((a) => a.startsWith("dynamodb:")))
      .map((s) => ({
        resource: JSON.stringify(s.Resource),
        actions: [s.Action].flat().sort(),
        leadingKeys: (s.Condition as { "ForAllValues:StringLike"?: Record<string, string[]> } | undefined)?.["ForAllValues:StringLike"]?.["dynamodb:LeadingKeys"],
      }));
  const jobPartitions = ["JOB#*", "JOBS#ACTIVE*", "EVENT#*"];
  const cases = [
    ["start-job", () => training.pipeline.startJobFunction, ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"], jobPartitions],
    ["job-events", () => training.pipeline.jobEventsFunction, ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"], [...jobPartitions, "ADAPTER#*"]],
    ["job-sweep", () => training.pipeline.sweepFunction, ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], jobPartitions],
  ] as const;
  for (const [name, fn, actions, partitions] of cases) {
    it(`${name}: exactly ${actions.join(", ")} on the main table, only on job partitions, no index, no contributions`, () => {
      expect(dynamoAccess(fn().role as never)).toEqual([{ resource: JSON.stringify({ "Fn::GetAtt": [main, "Arn"] }), actions: [...actions], leadingKeys: [...partitions] }]);
    });
  }
});

describe("Training: EventBridge", () => {
  it("sends this queue's ended Batch jobs to batch-job-state, retrying into a dead-letter queue", () => {
    const rule = resource("AWS::Events::Rule", training.pipeline.stateChangeRule).Properties;
    expect(rule.EventPattern).toEqual({
      source: ["aws.batch"],
      "detail-type": ["Batch Job State Change"],
      detail: { jobQueue: [jobQueueArn()], status: ["SUCCEEDED", "FAILED"] },
    });
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { "Fn::GetAtt": [logicalId(training.pipeline.batchStateFunction), "Arn"] },
        DeadLetterConfig: { Arn: { "Fn::GetAtt": [logicalId(training.pipeline.stateChangeFailures), "Arn"] } },
        RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 8 },
      }),
    ]);
  });

  it("sends batch-job-state invocations that still fail after Lambda's retries to the same failure queue", () => {
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: { Ref: logicalId(training.pipeline.batchStateFunction) },
      DestinationConfig: { OnFailure: { Destination: { "Fn::GetAtt": [logicalId(training.pipeline.stateChangeFailures), "Arn"] } } },
    });
  });

  it("runs the job sweeper every 5 minutes", () => {
    const rule = resource("AWS::Events::Rule", training.pipeline.sweepRule).Properties;
    expect(rule.ScheduleExpression).toBe(`rate(${SWEEP_RATE.toMinutes()} minutes)`);
    expect(rule.Targets[0].Arn).toEqual({ "Fn::GetAtt": [logicalId(training.pipeline.sweepFunction), "Arn"] });
  });
});
