import { Arn, Duration, type RemovalPolicy, Size, Stack, Token, Validations } from "aws-cdk-lib";
import {
  Action,
  AllocationStrategy,
  EcsEc2ContainerDefinition,
  EcsJobDefinition,
  EcsMachineImageType,
  JobQueue,
  JobStateTimeLimitActionsAction,
  JobStateTimeLimitActionsReason,
  ManagedEc2EcsComputeEnvironment,
  Reason,
  RetryStrategy,
} from "aws-cdk-lib/aws-batch";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { InstanceClass, InstanceSize, InstanceType, LaunchTemplate, type SecurityGroup } from "aws-cdk-lib/aws-ec2";
import { Repository, TagMutability } from "aws-cdk-lib/aws-ecr";
import { ContainerImage, LogDriver } from "aws-cdk-lib/aws-ecs";
import { Rule, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import { type IGrantable, ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Bucket } from "aws-cdk-lib/aws-s3";
import type { Queue } from "aws-cdk-lib/aws-sqs";
import { Construct, type IConstruct } from "constructs";
import { acknowledgeBucketGrant, acknowledgeTableIndexes } from "./acknowledgments.ts";
import { AppFunction, type FunctionEnvironment } from "./app-function.ts";
import type { PlatformNetwork } from "./network.ts";
import { secureQueue } from "./secure-queue.ts";

/** Bucket prefixes the trainer reads (base models, frozen Datanet versions) and writes (its job's files). */
export const BASE_MODELS_PREFIX = "base-models/";
export const DATANET_VERSIONS_PREFIX = "datanets/*/versions/";
export const JOBS_PREFIX = "jobs/";
/** Everything the trainers write (adapter files, attribution, metrics, checkpoints): what the API may presign downloads of; not the job specs. */
const ADAPTER_OUTPUT_KEYS = `${JOBS_PREFIX}*/output/*`;

/** Function timeouts; each queue's visibility timeout is six times its consumer's (Lambda's guidance). */
export const START_JOB_TIMEOUT = Duration.seconds(60);
/** Finalize hashes the adapter's weights and checks its files. */
export const JOB_EVENTS_TIMEOUT = Duration.minutes(2);
export const JOB_SWEEP_TIMEOUT = Duration.minutes(2);
export const BATCH_STATE_TIMEOUT = Duration.seconds(30);
/** How often the sweeper looks for jobs without a heartbeat and queued jobs whose message was lost. */
export const SWEEP_RATE = Duration.minutes(5);

/** g5: one NVIDIA A10G (24 GB) per instance; xlarge 4 vCPU / 16 GiB, 2xlarge 8 vCPU / 32 GiB. */
export const TRAINER_INSTANCE_TYPES = [InstanceType.of(InstanceClass.G5, InstanceSize.XLARGE), InstanceType.of(InstanceClass.G5, InstanceSize.XLARGE2)];

export interface TrainingProps {
  /** The data bucket: base models, Datanet versions and job files. */
  bucket: Bucket;
  mainTable: Table;
  /** The functions' common environment (BUCKET included). */
  environment: FunctionEnvironment;
  removalPolicy: RemovalPolicy;
  /**
   * The trainer image URI (containers/trainer/Dockerfile). Default: `latest` of the ECR
   * repository this construct creates; push the image there after the first deploy. Synth
   * never builds the image, so it needs no Docker.
   */
  trainerImage?: string;
  /** Upper bound of each compute environment (default 32 vCPUs: 8 g5.xlarge). */
  maxvCpus?: number;
  /** One trainer attempt's wall-clock limit (default 12 hours). */
  attemptTimeout?: Duration;
  /** The shared network (infra/lib/network.ts): the trainers run in its isolated subnets. */
  network: PlatformNetwork;
}

/**
 * Training compute and the job pipeline on AWS:
 *   jobs queue → start-job → Batch SubmitJob on the GPU queue (Spot first, on-demand after)
 *   trainer (containers/trainer) → job-events queue ← batch-job-state ← EventBridge Batch Job State Change
 *   job-events queue → job-events (state machine, finalize);  every 5 min → job-sweep (heartbeat timeouts)
 *
 * Network: the trainer instances live in the shared network's isolated subnets with no route
 * to the internet; their security group reaches only the VPC endpoints (S3 through the gateway:
 * base models, data and image layers; ECR, ECS, SQS and CloudWatch Logs through interface
 * endpoints). A NAT gateway would cost about as much as the endpoints but let user-supplied
 * training runs reach anything.
 */
export class Training extends Construct {
  /** The trainer instances' group: egress to the VPC endpoints only. */
  readonly trainerSecurityGroup: SecurityGroup;
  readonly repository: Repository | undefined;
  readonly spotEnvironment: ManagedEc2EcsComputeEnvironment;
  readonly onDemandEnvironment: ManagedEc2EcsComputeEnvironment;
  readonly jobQueue: JobQueue;
  readonly jobDefinition: EcsJobDefinition;
  /** The trainer container's role: what a training run may touch. */
  readonly jobRole: Role;
  readonly jobsQueue: Queue;
  readonly jobsDeadLetters: Queue;
  readonly jobEventsQueue: Queue;
  readonly jobEventsDeadLetters: Queue;
  /** EventBridge deliveries to batch-job-state that failed after their retries. */
  readonly stateChangeFailures: Queue;
  readonly startJobFunction: AppFunction;
  readonly jobEventsFunction: AppFunction;
  readonly sweepFunction: AppFunction;
  readonly batchStateFunction: AppFunction;
  readonly stateChangeRule: Rule;
  readonly sweepRule: Rule;
  /** What a function that creates or cancels jobs needs in its environment (see grantJobControl). */
  readonly jobEnvironment: Required<Pick<FunctionEnvironment, "JOBS_QUEUE_URL" | "BATCH_JOB_QUEUE" | "BATCH_JOB_DEFINITION">>;

  constructor(scope: Construct, id: string, props: TrainingProps) {
    super(scope, id);
    const { bucket, removalPolicy } = props;

    // Queues first: the trainer's environment names the job-events queue.
    this.jobsDeadLetters = secureQueue(this, "JobsDeadLetters");
    this.jobsQueue = secureQueue(this, "JobsQueue", {
      visibilityTimeout: Duration.seconds(START_JOB_TIMEOUT.toSeconds() * 6),
      deadLetterQueue: { queue: this.jobsDeadLetters, maxReceiveCount: 5 },
    });
    this.jobEventsDeadLetters = secureQueue(this, "JobEventsDeadLetters");
    this.jobEventsQueue = secureQueue(this, "JobEventsQueue", {
      visibilityTimeout: Duration.seconds(JOB_EVENTS_TIMEOUT.toSeconds() * 6),
      deadLetterQueue: { queue: this.jobEventsDeadLetters, maxReceiveCount: 5 },
    });
    this.stateChangeFailures = secureQueue(this, "StateChangeFailures");
    Validations.of(this.stateChangeFailures).acknowledge({
      id: "AwsSolutions-SQS3",
      reason: "This queue is itself the dead-letter queue of the EventBridge target (batch-job-state); nothing consumes it.",
    });

    const { network } = props;
    network.allowBucket(bucket);
    this.trainerSecurityGroup = network.workloadSecurityGroup(this, "TrainerInstances", "Batch trainer instances: no inbound, outbound to the VPC endpoints only");

    // Compute: g5 GPU instances on the ECS GPU AMI, scaled to zero when idle.
    const instanceRole = new Role(this, "InstanceRole", {
      assumedBy: new ServicePrincipal("ec2.amazonaws.com"),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName("service-role/AmazonEC2ContainerServiceforEC2Role")],
    });
    Validations.of(instanceRole).acknowledge({
      id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]",
      reason: "The ECS container-instance policy Batch documents for its instances: the ECS agent registers and pulls images; tasks get their own job role.",
    });
    // IMDSv2 only, one hop: containers cannot reach the instance role's credentials.
    const launchTemplate = new LaunchTemplate(this, "TrainerLaunchTemplate", { requireImdsv2: true, httpPutResponseHopLimit: 1 });
    const computeProps = {
      vpc: network.vpc,
      vpcSubnets: network.workloadSubnets,
      securityGroups: [this.trainerSecurityGroup],
      instanceTypes: TRAINER_INSTANCE_TYPES,
      useOptimalInstanceClasses: false,
      images: [{ imageType: EcsMachineImageType.ECS_AL2023_NVIDIA }],
      minvCpus: 0,
      maxvCpus: props.maxvCpus ?? 32,
      instanceRole,
      launchTemplate,
      updateToLatestImageVersion: true,
    };
    this.spotEnvironment = new ManagedEc2EcsComputeEnvironment(this, "Spot", { ...computeProps, spot: true, allocationStrategy: AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED });
    this.onDemandEnvironment = new ManagedEc2EcsComputeEnvironment(this, "OnDemand", { ...computeProps, allocationStrategy: AllocationStrategy.BEST_FIT_PROGRESSIVE });
    for (const environment of [this.spotEnvironment, this.onDemandEnvironment]) {
      Validations.of(environment).acknowledge({
        id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBatchServiceRole]",
        reason: "The Batch service role's AWS-managed policy, as Batch documents it for managed compute environments.",
      });
    }
    // Spot first; jobs go on demand when the Spot environment is full. Jobs stuck for want of
    // capacity are cancelled, and the platform's retry policy submits them again.
    this.jobQueue = new JobQueue(this, "JobQueue", {
      priority: 1,
      computeEnvironments: [
        { computeEnvironment: this.spotEnvironment, order: 1 },
        { computeEnvironment: this.onDemandEnvironment, order: 2 },
      ],
      jobStateTimeLimitActions: [
        { action: JobStateTimeLimitActionsAction.CANCEL, maxTime: Duration.hours(2), reason: JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY },
        { action: JobStateTimeLimitActionsAction.CANCEL, maxTime: Duration.minutes(10), reason: JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE },
        { action: JobStateTimeLimitActionsAction.CANCEL, maxTime: Duration.minutes(10), reason: JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT },
      ],
    });

    // The trainer: what a run may touch, its image and logs.
    this.jobRole = new Role(this, "TrainerJobRole", { assumedBy: new ServicePrincipal("ecs-tasks.amazonaws.com"), description: "A Model Factory trainer run" });
    bucket.grantRead(this.jobRole, `${BASE_MODELS_PREFIX}*`);
    bucket.grantRead(this.jobRole, `${DATANET_VERSIONS_PREFIX}*`);
    bucket.grantRead(this.jobRole, `${JOBS_PREFIX}*`);
    bucket.grantPut(this.jobRole, `${JOBS_PREFIX}*`);
    this.jobEventsQueue.grantSendMessages(this.jobRole);
    acknowledgeBucketGrant(this.jobRole, bucket, ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*"], [BASE_MODELS_PREFIX, DATANET_VERSIONS_PREFIX, JOBS_PREFIX]);

    let image: ContainerImage;
    if (props.trainerImage) image = ContainerImage.fromRegistry(props.trainerImage);
    else {
      this.repository = new Repository(this, "TrainerImages", {
        imageScanOnPush: true,
        imageTagMutability: TagMutability.MUTABLE,
        lifecycleRules: [{ description: "keep the last 10 images", maxImageCount: 10 }],
        removalPolicy,
      });
      image = ContainerImage.fromEcrRepository(this.repository, "latest");
    }
    const logGroup = new LogGroup(this, "TrainerLogs", { retention: RetentionDays.ONE_MONTH, removalPolicy });
    const container = new EcsEc2ContainerDefinition(this, "TrainerContainer", {
      image,
      gpu: 1,
      cpu: 4,
      memory: Size.gibibytes(14), // g5.xlarge has 16 GiB; the ECS agent and OS keep the rest
      jobRole: this.jobRole,
      logging: LogDriver.awsLogs({ streamPrefix: "trainer", logGroup }),
      environment: { MF_RUNTIME: "aws", BUCKET: bucket.bucketName, JOB_EVENTS_QUEUE_URL: this.jobEventsQueue.queueUrl, TRAINER_WORK_DIR: "/tmp/mf-trainer" },
    });
    Validations.of(container).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "ecr:GetAuthorizationToken has no resource-level permissions; the image pull itself is limited to the trainer repository.",
    });
    this.jobDefinition = new EcsJobDefinition(this, "TrainerJob", {
      container,
      timeout: props.attemptTimeout ?? Duration.hours(12),
      // Batch reruns the same attempt when Spot takes the instance away (the trainer resumes from
      // its checkpoint); any other end goes back to the platform, whose policy decides on retries.
      retryAttempts: 5,
      retryStrategies: [RetryStrategy.of(Action.RETRY, Reason.SPOT_INSTANCE_RECLAIMED), RetryStrategy.of(Action.EXIT, Reason.custom({ onReason: "*" }))],
      propagateTags: true,
    });

    // The job functions.
    this.jobEnvironment = { JOBS_QUEUE_URL: this.jobsQueue.queueUrl, BATCH_JOB_QUEUE: this.jobQueue.jobQueueArn, BATCH_JOB_DEFINITION: this.jobDefinition.jobDefinitionArn };
    const jobEnvironment: FunctionEnvironment = { ...props.environment, ...this.jobEnvironment };

    this.startJobFunction = new AppFunction(this, "StartJob", {
      entry: "start-job",
      description: "Starts a queued fine-tune job's next attempt on AWS Batch",
      environment: jobEnvironment,
      timeout: START_JOB_TIMEOUT,
      removalPolicy,
    });
    this.startJobFunction.addEventSource(new SqsEventSource(this.jobsQueue, { batchSize: 5, reportBatchItemFailures: true, maxConcurrency: 5 }));
    props.mainTable.grantReadWriteData(this.startJobFunction);
    bucket.grantPut(this.startJobFunction, `${JOBS_PREFIX}*`); // the attempt's spec
    this.jobDefinition.grantSubmitJob(this.startJobFunction, this.jobQueue);
    this.#grantTagAndTerminate(this.startJobFunction, true);
    this.jobsQueue.grantSendMessages(this.startJobFunction);
    acknowledgeTableIndexes(this.startJobFunction, props.mainTable);
    acknowledgeBucketGrant(this.startJobFunction, bucket, ["s3:Abort*"], [JOBS_PREFIX]);

    this.jobEventsFunction = new AppFunction(this, "JobEvents", {
      entry: "job-events",
      description: "Applies trainer and Batch job events to jobs; finalizes adapters",
      environment: jobEnvironment,
      timeout: JOB_EVENTS_TIMEOUT,
      memorySize: 1024,
      removalPolicy,
    });
    this.jobEventsFunction.addEventSource(new SqsEventSource(this.jobEventsQueue, { batchSize: 10, reportBatchItemFailures: true, maxConcurrency: 5 }));
    props.mainTable.grantReadWriteData(this.jobEventsFunction);
    bucket.grantRead(this.jobEventsFunction, `${JOBS_PREFIX}*`); // the trainer's output, for finalize
    this.jobsQueue.grantSendMessages(this.jobEventsFunction); // retries
    this.#grantTagAndTerminate(this.jobEventsFunction, false);
    acknowledgeTableIndexes(this.jobEventsFunction, props.mainTable);
    acknowledgeBucketGrant(this.jobEventsFunction, bucket, ["s3:GetObject*", "s3:GetBucket*", "s3:List*"], [JOBS_PREFIX]);

    this.sweepFunction = new AppFunction(this, "JobSweep", {
      entry: "job-sweep",
      description: "Ends job attempts without a heartbeat and re-queues jobs whose start message was lost",
      environment: jobEnvironment,
      timeout: JOB_SWEEP_TIMEOUT,
      removalPolicy,
    });
    props.mainTable.grantReadWriteData(this.sweepFunction);
    this.jobsQueue.grantSendMessages(this.sweepFunction);
    this.#grantTagAndTerminate(this.sweepFunction, false);
    acknowledgeTableIndexes(this.sweepFunction, props.mainTable);
    this.sweepRule = new Rule(this, "JobSweepSchedule", { description: "Runs the job sweeper", schedule: Schedule.rate(SWEEP_RATE) });
    this.sweepRule.addTarget(new LambdaFunction(this.sweepFunction, { retryAttempts: 2 }));

    // Batch's state changes of this queue's jobs that ended → exited events on the job-events queue.
    this.batchStateFunction = new AppFunction(this, "BatchJobState", {
      entry: "batch-job-state",
      description: "Turns Batch Job State Change events of trainer jobs into job events",
      environment: { ...props.environment, JOB_EVENTS_QUEUE_URL: this.jobEventsQueue.queueUrl },
      timeout: BATCH_STATE_TIMEOUT,
      memorySize: 256,
      removalPolicy,
    });
    this.jobEventsQueue.grantSendMessages(this.batchStateFunction);
    this.stateChangeRule = new Rule(this, "BatchJobStateChange", {
      description: "Trainer jobs that ended (SUCCEEDED or FAILED) on the GPU job queue",
      eventPattern: {
        source: ["aws.batch"],
        detailType: ["Batch Job State Change"],
        detail: { jobQueue: [this.jobQueue.jobQueueArn], status: ["SUCCEEDED", "FAILED"] },
      },
    });
    this.stateChangeRule.addTarget(
      new LambdaFunction(this.batchStateFunction, { retryAttempts: 8, maxEventAge: Duration.hours(24), deadLetterQueue: this.stateChangeFailures }),
    );
  }

  /**
   * Lets a function create and cancel jobs (the API): write specs under `jobs/`, send to the
   * jobs queue, terminate trainer runs. Pair with `jobEnvironment` in its environment.
   */
  grantJobControl(grantee: IGrantable & IConstruct, bucket: Bucket): void {
    this.jobsQueue.grantSendMessages(grantee);
    bucket.grantPut(grantee, `${JOBS_PREFIX}*`);
    this.#grantTagAndTerminate(grantee, false);
    acknowledgeBucketGrant(grantee, bucket, ["s3:Abort*"], [JOBS_PREFIX]);
  }

  /**
   * Lets a function presign downloads of adapters (the API): a presigned GET
   * carries the signer's rights, so it may read the trainers' output only.
   */
  grantAdapterDownloads(grantee: IGrantable & IConstruct, bucket: Bucket): void {
    bucket.grantRead(grantee, ADAPTER_OUTPUT_KEYS);
    acknowledgeBucketGrant(grantee, bucket, ["s3:GetObject*", "s3:GetBucket*", "s3:List*"], [ADAPTER_OUTPUT_KEYS.slice(0, -1)]);
  }

  /** TerminateJob (and TagResource, for SubmitJob's tags) on this account's Batch jobs: their ids are only known at run time. */
  #grantTagAndTerminate(grantee: IGrantable & IConstruct, tag: boolean): void {
    const jobs = Arn.format({ service: "batch", resource: "job", resourceName: "*" }, Stack.of(this));
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions: tag ? ["batch:TerminateJob", "batch:TagResource"] : ["batch:TerminateJob"], resources: [jobs] }));
    // on the role that holds the policy (a function's role is its sibling, not its child)
    const holder = Construct.isConstruct(grantee.grantPrincipal) ? grantee.grantPrincipal : grantee;
    // cdk-nag names the resource as synthesised: pseudo-parameters when the stack's env is unresolved, literals when set.
    const stack = Stack.of(this);
    const region = Token.isUnresolved(stack.region) ? "<AWS::Region>" : stack.region;
    const account = Token.isUnresolved(stack.account) ? "<AWS::AccountId>" : stack.account;
    Validations.of(holder).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:${region}:${account}:job/*]`,
      reason: "Batch job ids are assigned at SubmitJob; cancelling (and tagging at submit) needs the account's job ARNs. Jobs only run on this construct's queue.",
    });
  }
}
