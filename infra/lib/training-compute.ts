import { Annotations, Duration, type RemovalPolicy, Size, Validations } from "aws-cdk-lib";
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
import { InstanceClass, InstanceSize, InstanceType, LaunchTemplate, type SecurityGroup } from "aws-cdk-lib/aws-ec2";
import { Repository, TagMutability } from "aws-cdk-lib/aws-ecr";
import { ContainerImage, LogDriver } from "aws-cdk-lib/aws-ecs";
import { ManagedPolicy, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Bucket } from "aws-cdk-lib/aws-s3";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { acknowledgeBucketGrant } from "./acknowledgments.ts";
import type { PlatformNetwork } from "./network.ts";

/** Bucket prefixes the trainer reads (base models, frozen Datanet versions) and writes (its job's files). */
export const BASE_MODELS_PREFIX = "base-models/";
export const DATANET_VERSIONS_PREFIX = "datanets/*/versions/";
export const JOBS_PREFIX = "jobs/";

/**
 * Which engine does the trainer's numeric work: the embedded TypeScript engine
 * (CPU only; the default, and what CI tests) or PyTorch on a GPU (issue #10).
 * The compute follows it, so no stage pays for a GPU that nothing uses.
 */
export const TRAINER_BACKENDS = ["embedded", "pytorch-gpu"] as const;
export type TrainerBackend = (typeof TRAINER_BACKENDS)[number];

/** What one backend runs on: instance types, AMI, what one trainer container asks for, and which trainer it runs. */
interface BackendCompute {
  instanceTypes: InstanceType[];
  image: EcsMachineImageType;
  container: { cpu: number; memory: Size; gpu?: number };
  defaultMaxvCpus: number;
  /** The trainer's TRAINER_BACKEND (containers/trainer/main.ts): `engine` or `torch`. */
  trainerBackend: "engine" | "torch";
  /** The stage of containers/trainer/Dockerfile whose image this compute runs (`docker build --target ...`). */
  imageTarget: "cpu" | "gpu";
}

export const BACKEND_COMPUTE: Record<TrainerBackend, BackendCompute> = {
  // m7i: 2 vCPU / 8 GiB (large), 4 vCPU / 16 GiB (xlarge); the engine is CPU-bound and small.
  embedded: {
    instanceTypes: [InstanceType.of(InstanceClass.M7I, InstanceSize.LARGE), InstanceType.of(InstanceClass.M7I, InstanceSize.XLARGE)],
    image: EcsMachineImageType.ECS_AL2023,
    container: { cpu: 2, memory: Size.gibibytes(7) }, // m7i.large has 8 GiB; the ECS agent and OS keep the rest
    defaultMaxvCpus: 16,
    trainerBackend: "engine",
    imageTarget: "cpu",
  },
  // g5: one NVIDIA A10G (24 GB) per instance; xlarge 4 vCPU / 16 GiB, 2xlarge 8 vCPU / 32 GiB.
  "pytorch-gpu": {
    instanceTypes: [InstanceType.of(InstanceClass.G5, InstanceSize.XLARGE), InstanceType.of(InstanceClass.G5, InstanceSize.XLARGE2)],
    image: EcsMachineImageType.ECS_AL2023_NVIDIA,
    container: { cpu: 4, memory: Size.gibibytes(14), gpu: 1 }, // g5.xlarge has 16 GiB
    defaultMaxvCpus: 32,
    // the PyTorch image (Dockerfile --target gpu); an explicit `torch`, so a GPU the driver cannot use fails the job instead of training on the CPU
    trainerBackend: "torch",
    imageTarget: "gpu",
  },
};

/** An image reference pinned by digest: `<registry>/<repo>@sha256:<64 hex>`. */
const PINNED_IMAGE = /^[^\s@]+@sha256:[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** The tag the job definition names until a digest is given: immutable tags mean it is pushed once, by hand (README). */
export const UNPINNED_TRAINER_TAG = "bootstrap";
/** The tag of each image target before a digest is given (the GPU image is another image, so another tag). */
export const UNPINNED_TRAINER_TAGS: Record<BackendCompute["imageTarget"], string> = { cpu: UNPINNED_TRAINER_TAG, gpu: `${UNPINNED_TRAINER_TAG}-gpu` };

export interface TrainingComputeProps {
  network: PlatformNetwork;
  /** The data bucket: base models, Datanet versions and job files. */
  bucket: Bucket;
  /** Where the trainer sends its job events. */
  jobEventsQueue: IQueue;
  removalPolicy: RemovalPolicy;
  /** Default `embedded` (CPU instances). */
  backend?: TrainerBackend;
  /**
   * The trainer image (containers/trainer/Dockerfile): a full reference pinned by digest
   * (`...@sha256:...`), or the digest of an image pushed to the repository this construct
   * creates (`sha256:...`). Synth never builds the image, so it needs no Docker.
   */
  trainerImage?: string;
  /** Upper bound of each compute environment (default per backend: 16 CPU, 32 GPU vCPUs). */
  maxvCpus?: number;
  /** One trainer attempt's wall-clock limit (default 12 hours). */
  attemptTimeout?: Duration;
}

/**
 * Where trainers run: two managed Batch compute environments (Spot first,
 * on-demand after) in the shared network's isolated subnets, scaled to zero
 * when idle; the job queue; and the trainer job definition with the role that
 * bounds what a training run may touch.
 */
export class TrainingCompute extends Construct {
  readonly backend: TrainerBackend;
  /** The trainer instances' group: egress to the VPC endpoints only. */
  readonly trainerSecurityGroup: SecurityGroup;
  /** The trainer image repository (immutable tags); absent when a full image reference is given. */
  readonly repository: Repository | undefined;
  readonly spotEnvironment: ManagedEc2EcsComputeEnvironment;
  readonly onDemandEnvironment: ManagedEc2EcsComputeEnvironment;
  readonly jobQueue: JobQueue;
  readonly jobDefinition: EcsJobDefinition;
  /** The trainer container's role: what a training run may touch. */
  readonly jobRole: Role;

  constructor(scope: Construct, id: string, props: TrainingComputeProps) {
    super(scope, id);
    const { bucket, network, removalPolicy } = props;
    this.backend = props.backend ?? "embedded";
    const compute = BACKEND_COMPUTE[this.backend];
    if (props.maxvCpus !== undefined && (!Number.isInteger(props.maxvCpus) || props.maxvCpus < compute.container.cpu)) {
      throw new Error(`maxvCpus must be an integer of at least ${compute.container.cpu} (one trainer), got ${props.maxvCpus}`);
    }

    network.allowBucket(bucket);
    this.trainerSecurityGroup = network.workloadSecurityGroup(this, "TrainerInstances", "Batch trainer instances: no inbound, outbound to the VPC endpoints only");

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
      instanceTypes: compute.instanceTypes,
      useOptimalInstanceClasses: false,
      images: [{ imageType: compute.image }],
      minvCpus: 0,
      maxvCpus: props.maxvCpus ?? compute.defaultMaxvCpus,
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
    props.jobEventsQueue.grantSendMessages(this.jobRole);
    acknowledgeBucketGrant(this.jobRole, bucket, ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*"], [BASE_MODELS_PREFIX, DATANET_VERSIONS_PREFIX, JOBS_PREFIX]);

    const logGroup = new LogGroup(this, "TrainerLogs", { retention: RetentionDays.ONE_MONTH, removalPolicy });
    const container = new EcsEc2ContainerDefinition(this, "TrainerContainer", {
      image: this.#image(props.trainerImage, removalPolicy, compute.imageTarget),
      ...(compute.container.gpu ? { gpu: compute.container.gpu } : {}),
      cpu: compute.container.cpu,
      memory: compute.container.memory,
      jobRole: this.jobRole,
      logging: LogDriver.awsLogs({ streamPrefix: "trainer", logGroup }),
      environment: {
        MF_RUNTIME: "aws",
        TRAINER_BACKEND: compute.trainerBackend,
        BUCKET: bucket.bucketName,
        JOB_EVENTS_QUEUE_URL: props.jobEventsQueue.queueUrl,
        TRAINER_WORK_DIR: "/tmp/mf-trainer",
      },
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
  }

  /** A full reference pinned by digest; else the stack's repository at a digest (or, before the first push, its bootstrap tag). */
  #image(trainerImage: string | undefined, removalPolicy: RemovalPolicy, target: BackendCompute["imageTarget"]): ContainerImage {
    if (trainerImage !== undefined && !PINNED_IMAGE.test(trainerImage) && !DIGEST.test(trainerImage)) {
      throw new Error(`trainerImage must be pinned by digest (<image>@sha256:<64 hex> or sha256:<64 hex>), got ${trainerImage}`);
    }
    if (trainerImage && PINNED_IMAGE.test(trainerImage)) return ContainerImage.fromRegistry(trainerImage);
    (this as { repository: Repository | undefined }).repository = new Repository(this, "TrainerImages", {
      imageScanOnPush: true,
      // A tag names one image for ever; the job definition names a digest anyway.
      imageTagMutability: TagMutability.IMMUTABLE,
      lifecycleRules: [{ description: "keep the last 10 images", maxImageCount: 10 }],
      removalPolicy,
    });
    if (!trainerImage) {
      Annotations.of(this).addWarningV2(
        "modelfactory:unpinned-trainer",
        `No trainer image digest: jobs pull :${UNPINNED_TRAINER_TAGS[target]} (containers/trainer/Dockerfile --target ${target}) until you deploy with -c modelfactory:trainerImage=sha256:<digest> (README, Deploying to AWS).`,
      );
    }
    return ContainerImage.fromEcrRepository(this.repository!, trainerImage ?? UNPINNED_TRAINER_TAGS[target]);
  }
}
