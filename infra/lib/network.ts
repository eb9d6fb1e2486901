import { Aws, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import {
  CfnInternetGateway,
  CfnVPCGatewayAttachment,
  FlowLogDestination,
  FlowLogTrafficType,
  type GatewayVpcEndpoint,
  GatewayVpcEndpointAwsService,
  type InterfaceVpcEndpoint,
  InterfaceVpcEndpointAwsService,
  type IVpc,
  Peer,
  Port,
  SecurityGroup,
  type SubnetSelection,
  SubnetType,
  Vpc,
} from "aws-cdk-lib/aws-ec2";
import { AnyPrincipal, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import type { IBucket } from "aws-cdk-lib/aws-s3";
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from "aws-cdk-lib/custom-resources";
import { Construct } from "constructs";

/**
 * What a workload construct (training, inference) needs from the network: the
 * VPC, the subnets to run in, and security groups whose egress reaches only
 * the VPC endpoints. Take it as a prop; never make a VPC of your own.
 */
export interface PlatformNetwork {
  readonly vpc: IVpc;
  /** Where workloads run: isolated subnets in two AZs, no route to the internet. */
  readonly workloadSubnets: SubnetSelection;
  /**
   * A new security group for a workload: no inbound, outbound HTTPS only to the
   * interface endpoints and to S3 (its gateway's prefix list). Add ingress (an ALB
   * to its tasks, say) with the group's `connections` where a workload needs it.
   */
  workloadSecurityGroup(scope: Construct, id: string, description: string): SecurityGroup;
  /** Lets the workloads reach `bucket` through the S3 gateway endpoint, whose policy names every bucket allowed. */
  allowBucket(bucket: IBucket): void;
}

export interface NetworkProps {
  removalPolicy: RemovalPolicy;
  /**
   * Development: the interface endpoints get an ENI in the first AZ only (half their idle
   * cost). The VPC keeps two AZs (Batch capacity, an ALB's two subnets); a workload in the
   * second AZ reaches the endpoints across AZs.
   */
  singleAzEndpoints?: boolean;
}

/** Interface endpoints: what the ECS agent, image pulls, logs and the trainer's job events need. */
export const INTERFACE_ENDPOINTS = {
  Ecr: InterfaceVpcEndpointAwsService.ECR,
  EcrDocker: InterfaceVpcEndpointAwsService.ECR_DOCKER,
  Ecs: InterfaceVpcEndpointAwsService.ECS,
  EcsAgent: InterfaceVpcEndpointAwsService.ECS_AGENT,
  EcsTelemetry: InterfaceVpcEndpointAwsService.ECS_TELEMETRY,
  Logs: InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
  Sqs: InterfaceVpcEndpointAwsService.SQS,
} as const;
export type InterfaceEndpointName = keyof typeof INTERFACE_ENDPOINTS;

/** Endpoints whose every resource is this account's (its queues, its log groups); ECR may pull a pinned image of another account. */
const OWN_RESOURCES_ONLY: readonly InterfaceEndpointName[] = ["Sqs", "Logs"];

/** The construct id CDK gives the one function that runs every AwsCustomResource of a stack. */
export const AWS_CUSTOM_RESOURCE_SINGLETON = "AWS679f53fac002430cb0da5b7982bd2287";

/** What the workloads may do in an allowed bucket at most; each role's own grants narrow it to prefixes. */
const BUCKET_ENDPOINT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListBucket", "s3:GetBucketLocation"];

/**
 * The platform's one VPC: isolated subnets with no internet route, an S3
 * gateway endpoint (free) and interface endpoints for the rest, each with an
 * endpoint policy that admits this account's principals only (a data
 * perimeter: credentials of another account cannot use them, and nothing
 * inside can copy data to another account's bucket or queue).
 */
export class Network extends Construct implements PlatformNetwork {
  readonly vpc: Vpc;
  readonly workloadSubnets: SubnetSelection = { subnetType: SubnetType.PRIVATE_ISOLATED };
  readonly s3Endpoint: GatewayVpcEndpoint;
  readonly interfaceEndpoints: Record<InterfaceEndpointName, InterfaceVpcEndpoint>;
  /** The interface endpoints' group: HTTPS in from each workload group, nothing out. */
  readonly endpointSecurityGroup: SecurityGroup;
  readonly #buckets: IBucket[] = [];
  #s3PrefixListId: string | undefined;
  readonly #removalPolicy: RemovalPolicy;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    this.#removalPolicy = props.removalPolicy;
    const flowLogs = new LogGroup(this, "VpcFlowLogs", { retention: RetentionDays.ONE_MONTH, removalPolicy: props.removalPolicy });
    this.vpc = new Vpc(this, "Vpc", {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: "workloads", subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
      restrictDefaultSecurityGroup: false,
      flowLogs: { rejected: { destination: FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: FlowLogTrafficType.REJECT } },
    });

    this.s3Endpoint = this.vpc.addGatewayEndpoint("S3", { service: GatewayVpcEndpointAwsService.S3 });
    // ECR's layer bucket here; each platform bucket joins with allowBucket. Nothing else in S3 is reachable.
    this.s3Endpoint.addToPolicy(
      new PolicyStatement({
        sid: "EcrImageLayers",
        principals: [new AnyPrincipal()],
        actions: ["s3:GetObject"],
        // ECR serves image layers from this AWS-owned bucket (ECR's documented endpoint policy).
        resources: [`arn:${Aws.PARTITION}:s3:::prod-${Aws.REGION}-starport-layer-bucket/*`],
      }),
    );

    this.endpointSecurityGroup = new SecurityGroup(this, "Endpoints", { vpc: this.vpc, description: "Interface endpoints: HTTPS from the workloads", allowAllOutbound: false });
    const subnets: SubnetSelection = props.singleAzEndpoints ? { subnets: [this.vpc.isolatedSubnets[0]!] } : this.workloadSubnets;
    const entries = Object.entries(INTERFACE_ENDPOINTS).map(([name, service]) => {
      const endpoint = this.vpc.addInterfaceEndpoint(name, { service, privateDnsEnabled: true, securityGroups: [this.endpointSecurityGroup], open: false, subnets });
      const ownResources = OWN_RESOURCES_ONLY.includes(name as InterfaceEndpointName);
      endpoint.addToPolicy(
        new PolicyStatement({
          sid: "ThisAccountOnly",
          principals: [new AnyPrincipal()],
          actions: ["*"],
          resources: ["*"],
          conditions: { StringEquals: { "aws:PrincipalAccount": Aws.ACCOUNT_ID, ...(ownResources ? { "aws:ResourceAccount": Aws.ACCOUNT_ID } : {}) } },
        }),
      );
      return [name, endpoint] as const;
    });
    this.interfaceEndpoints = Object.fromEntries(entries) as Record<InterfaceEndpointName, InterfaceVpcEndpoint>;
  }

  /**
   * CloudFront VPC origins (the edge in front of the internal inference ALB) need an internet
   * gateway attached to the VPC. No route table points at it, so the isolated subnets still have
   * no way out; it only lets CloudFront's origin ENIs take traffic in.
   */
  enableVpcOrigins(): void {
    if (this.#internetGateway) return;
    this.#internetGateway = new CfnInternetGateway(this, "VpcOriginsGateway");
    new CfnVPCGatewayAttachment(this, "VpcOriginsGatewayAttachment", { vpcId: this.vpc.vpcId, internetGatewayId: this.#internetGateway.ref });
  }

  #internetGateway: CfnInternetGateway | undefined;

  allowBucket(bucket: IBucket): void {
    if (this.#buckets.includes(bucket)) return;
    this.#buckets.push(bucket);
    this.s3Endpoint.addToPolicy(
      new PolicyStatement({
        principals: [new AnyPrincipal()],
        actions: BUCKET_ENDPOINT_ACTIONS,
        resources: [bucket.bucketArn, bucket.arnForObjects("*")],
        conditions: { StringEquals: { "aws:PrincipalAccount": Aws.ACCOUNT_ID } },
      }),
    );
  }

  workloadSecurityGroup(scope: Construct, id: string, description: string): SecurityGroup {
    const group = new SecurityGroup(scope, id, { vpc: this.vpc, description, allowAllOutbound: false });
    group.addEgressRule(this.endpointSecurityGroup, Port.tcp(443), "HTTPS to the interface endpoints");
    group.addEgressRule(Peer.prefixList(this.#s3PrefixList()), Port.tcp(443), "HTTPS to S3 through the gateway endpoint");
    this.endpointSecurityGroup.addIngressRule(group, Port.tcp(443), `HTTPS from ${id}`);
    return group;
  }

  /**
   * The region's S3 prefix list id (`com.amazonaws.<region>.s3`), looked up at deploy time:
   * a synth-time lookup would tie the template to one account and region.
   */
  #s3PrefixList(): string {
    if (this.#s3PrefixListId) return this.#s3PrefixListId;
    const lookup = new AwsCustomResource(this, "S3PrefixList", {
      onUpdate: {
        service: "EC2",
        action: "describeManagedPrefixLists",
        parameters: { Filters: [{ Name: "prefix-list-name", Values: [`com.amazonaws.${Aws.REGION}.s3`] }] },
        physicalResourceId: PhysicalResourceId.of(`s3-prefix-list-${Aws.REGION}`),
        outputPaths: ["PrefixLists.0.PrefixListId"],
      },
      // DescribeManagedPrefixLists has no resource-level permissions.
      policy: AwsCustomResourcePolicy.fromSdkCalls({ resources: AwsCustomResourcePolicy.ANY_RESOURCE }),
      installLatestAwsSdk: false,
      logGroup: new LogGroup(this, "S3PrefixListLogs", { retention: RetentionDays.ONE_MONTH, removalPolicy: this.#removalPolicy }),
    });
    Validations.of(lookup).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "ec2:DescribeManagedPrefixLists has no resource-level permissions; the lookup only reads the S3 prefix list's id.",
    });
    // The stack-wide singleton function behind every AwsCustomResource.
    const provider = Stack.of(this).node.tryFindChild(AWS_CUSTOM_RESOURCE_SINGLETON);
    if (provider) {
      Validations.of(provider).acknowledge({
        id: "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        reason: "CDK's own AwsCustomResource provider; the managed policy only allows writing its logs.",
      });
    }
    this.#s3PrefixListId = lookup.getResponseField("PrefixLists.0.PrefixListId");
    return this.#s3PrefixListId;
  }
}
