import { Annotations, type CfnResource, Duration, type RemovalPolicy, Stack, Token, Validations } from "aws-cdk-lib";
import { AutoScalingGroup, BlockDeviceVolume } from "aws-cdk-lib/aws-autoscaling";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { InstanceClass, InstanceSize, InstanceType, LaunchTemplate, Peer, Port, type SecurityGroup, UserData } from "aws-cdk-lib/aws-ec2";
import { Repository, TagMutability } from "aws-cdk-lib/aws-ecr";
import {
  AmiHardwareType,
  AsgCapacityProvider,
  Cluster,
  ContainerDependencyCondition,
  ContainerImage,
  ContainerInsights,
  Ec2Service,
  Ec2TaskDefinition,
  EcsOptimizedImage,
  LogDriver,
  NetworkMode,
} from "aws-cdk-lib/aws-ecs";
import { ApplicationLoadBalancer, ApplicationProtocol, ListenerCertificate, SslPolicy } from "aws-cdk-lib/aws-elasticloadbalancingv2";
import { Metric } from "aws-cdk-lib/aws-cloudwatch";
import { ManagedPolicy, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { INFLIGHT_METRIC } from "../../containers/inference/scaling-metric.ts";
import { acknowledgeBucketGrant, acknowledgeTableIndexes } from "./acknowledgments.ts";
import type { PlatformNetwork } from "./network.ts";
import { grantTableAccess } from "./tables.ts";
import { BASE_MODELS_PREFIX } from "./training-compute.ts";

/** What the gateway reads in the bucket: adapter PEFT files in each job's output, and base models. */
export const ADAPTER_FILE_PREFIXES = ["jobs/*/output/adapter_config.json", "jobs/*/output/adapter_model.safetensors"] as const;

/** vLLM's image, pinned by version tag; mirror it into the `vllm` repository this construct creates (README). */
export const VLLM_IMAGE_TAG = "v0.10.2";
const PINNED_IMAGE = /^[^\s@]+@sha256:[0-9a-f]{64}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const GATEWAY_PORT = 8080;
const VLLM_PORT = 8000;

export interface InferenceProps {
  network: PlatformNetwork;
  bucket: Bucket;
  mainTable: Table;
  contributionsTable: Table;
  removalPolicy: RemovalPolicy;
  /** ACM certificate for an HTTPS listener (context `modelfactory:inferenceCertificateArn`); HTTP on port 80 inside the VPC without one. */
  certificateArn?: string;
  /** The gateway image (containers/inference/Dockerfile): a reference pinned by digest, or a digest in the repository created here. */
  gatewayImage?: string;
  /** The base model vLLM serves: its catalog id and its files' prefix in the bucket. */
  baseModel?: { id: string; prefix: string };
  /** GPU instances (default g5.xlarge, one A10G 24 GB each) and how many at most (default 4). */
  instanceType?: InstanceType;
  maxInstances?: number;
  /** vLLM's LoRA settings: adapters in one batch (--max-loras), loaded in CPU memory (--max-cpu-loras), largest rank. */
  lora?: { maxLoras?: number; maxCpuLoras?: number; maxLoraRank?: number };
  /** Calls in flight per task the service scales to keep (default 24). */
  targetInFlightPerTask?: number;
}

/**
 * OpenLoRA on ECS GPU capacity: an Auto Scaling group of g5 instances (ECS GPU-optimised AMI)
 * as the cluster's capacity provider; one task per GPU with three containers (stage the base
 * model from S3, vLLM with runtime LoRA updating, and the gateway — the same inference service
 * as locally, with BACKEND=vllm); an internal Application Load Balancer health-checking
 * `/readyz`; target tracking on calls in flight per task. The VPC has no internet route, so
 * both images come from ECR repositories in this stack.
 */
export class Inference extends Construct {
  readonly cluster: Cluster;
  readonly autoScalingGroup: AutoScalingGroup;
  readonly capacityProvider: AsgCapacityProvider;
  readonly taskDefinition: Ec2TaskDefinition;
  readonly service: Ec2Service;
  readonly loadBalancer: ApplicationLoadBalancer;
  readonly gatewayRepository: Repository | undefined;
  readonly vllmRepository: Repository;
  readonly taskSecurityGroup: SecurityGroup;
  /** `http(s)://<alb dns>`: what clients inside the VPC (or a VPC link) call. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: InferenceProps) {
    super(scope, id);
    const { network, bucket, removalPolicy } = props;
    const baseModel = props.baseModel ?? { id: "mf-tiny-sotu", prefix: `${BASE_MODELS_PREFIX}mf-tiny-sotu/` };
    const lora = { maxLoras: 8, maxCpuLoras: 64, maxLoraRank: 64, ...props.lora };
    network.allowBucket(bucket);

    this.cluster = new Cluster(this, "Cluster", { vpc: network.vpc, containerInsightsV2: ContainerInsights.ENABLED });

    // GPU instances: the ECS GPU-optimised AMI (NVIDIA driver and container toolkit), IMDSv2 only
    // with one hop so tasks cannot take the instance role, encrypted root volume sized for images.
    this.taskSecurityGroup = network.workloadSecurityGroup(this, "Tasks", "OpenLoRA GPU instances and tasks: the ALB in, the VPC endpoints out");
    const instanceRole = new Role(this, "InstanceRole", {
      assumedBy: new ServicePrincipal("ec2.amazonaws.com"),
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName("service-role/AmazonEC2ContainerServiceforEC2Role")],
    });
    Validations.of(instanceRole).acknowledge({
      id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]",
      reason: "The ECS container-instance policy ECS documents for its instances: the agent registers and pulls images; tasks get their own task role.",
    });
    const launchTemplate = new LaunchTemplate(this, "GpuLaunchTemplate", {
      role: instanceRole,
      instanceType: props.instanceType ?? InstanceType.of(InstanceClass.G5, InstanceSize.XLARGE),
      machineImage: EcsOptimizedImage.amazonLinux2023(AmiHardwareType.GPU),
      userData: UserData.forLinux(),
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      securityGroup: this.taskSecurityGroup,
      blockDevices: [{ deviceName: "/dev/xvda", volume: BlockDeviceVolume.ebs(200, { encrypted: true }) }],
    });
    this.autoScalingGroup = new AutoScalingGroup(this, "GpuInstances", {
      vpc: network.vpc,
      vpcSubnets: network.workloadSubnets,
      launchTemplate,
      minCapacity: 0,
      maxCapacity: props.maxInstances ?? 4,
    });
    Validations.of(this.autoScalingGroup).acknowledge({
      id: "AwsSolutions-EC26",
      reason: "The group's launch template encrypts the root EBS volume (inference.test.ts checks it); the rule cannot see into a launch template.",
    });
    Validations.of(this.autoScalingGroup).acknowledge({
      id: "AwsSolutions-AS3",
      reason: "Scaling is driven by the ECS capacity provider; instance events reach operators through ECS service events and Container Insights.",
    });
    this.capacityProvider = new AsgCapacityProvider(this, "GpuCapacity", {
      autoScalingGroup: this.autoScalingGroup,
      enableManagedScaling: true,
      targetCapacityPercent: 100,
      // scale-in may stop an instance whose task is draining; the ALB's deregistration delay covers streams
      enableManagedTerminationProtection: false,
      // ECS drains an instance's tasks before scale-in (no drain-hook Lambda and topic)
      enableManagedDraining: true,
    });
    this.cluster.addAsgCapacityProvider(this.capacityProvider);
    Validations.of(instanceRole).acknowledge({
      id: "AwsSolutions-IAM5[Action::ecs:Submit*]",
      reason: "The ECS agent's statement CDK adds for a container instance (it reports task and container state); ECS documents no narrower action set.",
    });
    Validations.of(instanceRole).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "ecr:GetAuthorizationToken and the ECS agent's discover/poll calls have no resource-level permissions.",
    });

    // The task: stage the base model, vLLM on the GPU, the gateway in front of it.
    this.taskDefinition = new Ec2TaskDefinition(this, "Task", { networkMode: NetworkMode.AWS_VPC });
    const role = this.taskDefinition.taskRole;
    // Reads only: adapter files and the base model in the bucket, adapter records and API keys in the table.
    for (const prefix of ADAPTER_FILE_PREFIXES) bucket.grantRead(role, prefix);
    bucket.grantRead(role, `${baseModel.prefix}*`);
    acknowledgeBucketGrant(role, bucket, ["s3:GetObject*", "s3:GetBucket*", "s3:List*"], [...ADAPTER_FILE_PREFIXES, baseModel.prefix]);
    grantTableAccess(props.mainTable, role, { calls: ["get"], pkPrefixes: ["ADAPTER#", "APIKEY#"], gsi1Queries: { pkPrefixes: ["ADAPTERS"] } });
    acknowledgeTableIndexes(role, props.mainTable);
    for (const prefix of ADAPTER_FILE_PREFIXES) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(bucket.node.defaultChild as CfnResource)}.Arn>/${prefix}]`,
        reason: "Job ids are generated; the wildcard is one path segment and the grant names the two PEFT files of each job's output.",
      });
    }
    Validations.of(this.taskDefinition.obtainExecutionRole()).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "ecr:GetAuthorizationToken has no resource-level permissions; image pulls are limited to this stack's repositories.",
    });

    const logGroup = new LogGroup(this, "Logs", { retention: RetentionDays.ONE_MONTH, removalPolicy });
    this.taskDefinition.addVolume({ name: "adapters" });
    this.taskDefinition.addVolume({ name: "models" });
    const gatewayImage = this.#gatewayImage(props.gatewayImage, removalPolicy);
    this.vllmRepository = new Repository(this, "VllmImages", { imageScanOnPush: true, imageTagMutability: TagMutability.IMMUTABLE, lifecycleRules: [{ maxImageCount: 5 }], removalPolicy });

    const stage = this.taskDefinition.addContainer("stage-model", {
      image: gatewayImage,
      essential: false,
      memoryReservationMiB: 512,
      command: ["node", "containers/inference/stage-model.ts"],
      environment: { BUCKET: bucket.bucketName, MODEL_PREFIX: baseModel.prefix, MODEL_DIR: "/models/base" },
      logging: LogDriver.awsLogs({ streamPrefix: "stage-model", logGroup }),
    });
    stage.addMountPoints({ containerPath: "/models", sourceVolume: "models", readOnly: false });

    const vllm = this.taskDefinition.addContainer("vllm", {
      image: ContainerImage.fromEcrRepository(this.vllmRepository, VLLM_IMAGE_TAG),
      gpuCount: 1,
      memoryReservationMiB: 12 * 1024,
      essential: true,
      command: [
        "--model", "/models/base",
        "--served-model-name", baseModel.id,
        "--host", "127.0.0.1",
        "--port", String(VLLM_PORT),
        "--enable-lora",
        "--max-loras", String(lora.maxLoras),
        "--max-cpu-loras", String(lora.maxCpuLoras),
        "--max-lora-rank", String(lora.maxLoraRank),
      ],
      // runtime LoRA updating: /v1/load_lora_adapter and /v1/unload_lora_adapter; no hub access
      environment: { VLLM_ALLOW_RUNTIME_LORA_UPDATING: "True", HF_HUB_OFFLINE: "1" },
      healthCheck: {
        command: ["CMD-SHELL", `python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${VLLM_PORT}/health')" || exit 1`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.minutes(5),
      },
      logging: LogDriver.awsLogs({ streamPrefix: "vllm", logGroup }),
    });
    vllm.addMountPoints({ containerPath: "/models", sourceVolume: "models", readOnly: true }, { containerPath: "/adapters", sourceVolume: "adapters", readOnly: true });
    vllm.addContainerDependencies({ container: stage, condition: ContainerDependencyCondition.SUCCESS });

    const gateway = this.taskDefinition.addContainer("gateway", {
      image: gatewayImage,
      memoryReservationMiB: 1024,
      essential: true,
      portMappings: [{ containerPort: GATEWAY_PORT }],
      environment: {
        MF_RUNTIME: "aws",
        BACKEND: "vllm",
        VLLM_URL: `http://127.0.0.1:${VLLM_PORT}`,
        BASE_MODEL_ID: baseModel.id,
        TABLE_MAIN: props.mainTable.tableName,
        TABLE_CONTRIBUTIONS: props.contributionsTable.tableName,
        BUCKET: bucket.bucketName,
        ADAPTER_DIR: "/adapters",
        MAX_LORAS: String(lora.maxCpuLoras),
        HOST: "0.0.0.0",
        PORT: String(GATEWAY_PORT),
      },
      logging: LogDriver.awsLogs({ streamPrefix: "gateway", logGroup }),
    });
    gateway.addMountPoints({ containerPath: "/adapters", sourceVolume: "adapters", readOnly: false });
    gateway.addContainerDependencies({ container: vllm, condition: ContainerDependencyCondition.HEALTHY });
    Validations.of(this.taskDefinition).acknowledge({
      id: "AwsSolutions-ECS2",
      reason: "The environment holds resource names and settings only (table, bucket, ports, LoRA limits); there are no secrets in it.",
    });

    this.service = new Ec2Service(this, "Service", {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: 1,
      vpcSubnets: network.workloadSubnets,
      securityGroups: [this.taskSecurityGroup],
      capacityProviderStrategies: [{ capacityProvider: this.capacityProvider.capacityProviderName, weight: 1 }],
      // vLLM loads the model and warms up before /readyz answers
      healthCheckGracePeriod: Duration.minutes(10),
      minHealthyPercent: 100,
      circuitBreaker: { rollback: true },
    });

    // The load balancer: internal (the VPC has isolated subnets only), idle timeout long enough
    // for a stream that pauses, access logs to their own bucket.
    const albSecurityGroup = network.workloadSecurityGroup(this, "LoadBalancerGroup", "OpenLoRA ALB: HTTP(S) from inside the VPC, to the gateway tasks");
    Validations.of(albSecurityGroup).acknowledge({ id: "AwsSolutions-EC23", reason: "Ingress is the VPC's own CIDR block (a token at synth time, which the rule cannot read), not 0.0.0.0/0." });
    albSecurityGroup.addIngressRule(Peer.ipv4(network.vpc.vpcCidrBlock), Port.tcp(props.certificateArn ? 443 : 80), "clients inside the VPC");
    this.loadBalancer = new ApplicationLoadBalancer(this, "LoadBalancer", {
      vpc: network.vpc,
      vpcSubnets: network.workloadSubnets,
      internetFacing: false,
      securityGroup: albSecurityGroup,
      idleTimeout: Duration.seconds(600),
      dropInvalidHeaderFields: true,
    });
    this.taskSecurityGroup.connections.allowFrom(albSecurityGroup, Port.tcp(GATEWAY_PORT), "the ALB to the gateway");
    // ELB's log delivery account depends on the region, so access logs need it at synth time:
    // `cdk deploy` sets it (bin/app.ts passes CDK_DEFAULT_REGION); a region-agnostic synth has none.
    if (!Token.isUnresolved(Stack.of(this).region)) {
      const accessLogs = new Bucket(this, "AccessLogs", {
        encryption: BucketEncryption.S3_MANAGED,
        blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycleRules: [{ expiration: Duration.days(90) }],
        removalPolicy,
      });
      Validations.of(accessLogs).acknowledge({ id: "AwsSolutions-S1", reason: "This bucket holds the ALB's access logs; logging access to the log bucket would recurse." });
      this.loadBalancer.logAccessLogs(accessLogs, "openlora");
    } else {
      Validations.of(this.loadBalancer).acknowledge({ id: "AwsSolutions-ELB2", reason: "Access logs are enabled when the stack has a region (every `cdk deploy`); a region-agnostic synth cannot name ELB's log delivery account." });
    }

    const listener = props.certificateArn
      ? this.loadBalancer.addListener("Https", { port: 443, protocol: ApplicationProtocol.HTTPS, certificates: [ListenerCertificate.fromArn(props.certificateArn)], sslPolicy: SslPolicy.RECOMMENDED_TLS, open: false })
      : this.loadBalancer.addListener("Http", { port: 80, protocol: ApplicationProtocol.HTTP, open: false });
    if (!props.certificateArn) {
      Annotations.of(this).addWarningV2("modelfactory:inference-http", "The inference ALB listens on HTTP inside the VPC; give -c modelfactory:inferenceCertificateArn=<ACM ARN> for HTTPS.");
    }
    listener.addTargets("Gateway", {
      port: GATEWAY_PORT,
      protocol: ApplicationProtocol.HTTP,
      targets: [this.service.loadBalancerTarget({ containerName: "gateway", containerPort: GATEWAY_PORT })],
      healthCheck: { path: "/readyz", interval: Duration.seconds(15), timeout: Duration.seconds(5), healthyThresholdCount: 2, unhealthyThresholdCount: 3 },
      // a draining task gets time to finish its streams
      deregistrationDelay: Duration.seconds(120),
    });
    this.url = `${props.certificateArn ? "https" : "http"}://${this.loadBalancer.loadBalancerDnsName}`;

    // Target tracking on calls in flight per task (the gateway emits it every 10 s, main.ts).
    const scaling = this.service.autoScaleTaskCount({ minCapacity: 1, maxCapacity: props.maxInstances ?? 4 });
    scaling.scaleToTrackCustomMetric("InFlight", {
      metric: new Metric({ namespace: INFLIGHT_METRIC.namespace, metricName: INFLIGHT_METRIC.name, dimensionsMap: { Service: INFLIGHT_METRIC.service }, statistic: "Average", period: Duration.minutes(1) }),
      targetValue: props.targetInFlightPerTask ?? 24,
      scaleInCooldown: Duration.minutes(10),
      scaleOutCooldown: Duration.minutes(2),
    });
  }

  /** A reference pinned by digest; else this construct's repository at a digest (or its bootstrap tag). */
  #gatewayImage(image: string | undefined, removalPolicy: RemovalPolicy): ContainerImage {
    if (image !== undefined && !PINNED_IMAGE.test(image) && !DIGEST.test(image)) throw new Error(`gatewayImage must be pinned by digest, got ${image}`);
    if (image && PINNED_IMAGE.test(image)) return ContainerImage.fromRegistry(image);
    const repo = new Repository(this, "GatewayImages", { imageScanOnPush: true, imageTagMutability: TagMutability.IMMUTABLE, lifecycleRules: [{ maxImageCount: 10 }], removalPolicy });
    (this as { gatewayRepository: Repository | undefined }).gatewayRepository = repo;
    if (!image) Annotations.of(this).addWarningV2("modelfactory:unpinned-gateway", "No gateway image digest: tasks pull :bootstrap until you deploy with -c modelfactory:gatewayImage=sha256:<digest>.");
    return ContainerImage.fromEcrRepository(repo, image ?? "bootstrap");
  }
}
