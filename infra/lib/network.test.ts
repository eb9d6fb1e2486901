import { describe, expect, it } from "vitest";
import { INTERFACE_ENDPOINTS } from "./network.ts";
import { testStack } from "./test-stack.ts";

const { template, stack } = testStack();
const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as Parameters<typeof stack.getLogicalId>[0]);
const network = stack.network;
const endpointGroup = () => ({ "Fn::GetAtt": [logicalId(network.endpointSecurityGroup), "GroupId"] });
const interfaceEndpoints = (t = template) => Object.values(t.findResources("AWS::EC2::VPCEndpoint", { Properties: { VpcEndpointType: "Interface" } }));

describe("Network", () => {
  it("has isolated subnets in two AZs and no route to the internet", () => {
    template.resourceCountIs("AWS::EC2::Subnet", 2);
    template.resourceCountIs("AWS::EC2::NatGateway", 0);
    // The gateway CloudFront's VPC origin needs is attached, but no route leads to it.
    template.resourceCountIs("AWS::EC2::InternetGateway", 1);
    template.resourceCountIs("AWS::EC2::VPCGatewayAttachment", 1);
    const routes = Object.values(template.findResources("AWS::EC2::Route"));
    expect(routes.filter((r) => r.Properties.GatewayId !== undefined || r.Properties.DestinationCidrBlock === "0.0.0.0/0")).toEqual([]);
    for (const subnet of Object.values(template.findResources("AWS::EC2::Subnet"))) expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false);
  });

  it("has one interface endpoint per service, each in both AZs behind the endpoint group", () => {
    const endpoints = interfaceEndpoints();
    expect(endpoints).toHaveLength(Object.keys(INTERFACE_ENDPOINTS).length);
    for (const endpoint of endpoints) {
      expect(endpoint.Properties.SubnetIds).toHaveLength(2);
      expect(endpoint.Properties.SecurityGroupIds).toEqual([endpointGroup()]);
      expect(endpoint.Properties.PrivateDnsEnabled).toBe(true);
    }
  });

  it("gives every interface endpoint a policy that admits this account's principals only", () => {
    for (const endpoint of interfaceEndpoints()) {
      expect(endpoint.Properties.PolicyDocument.Statement).toEqual([
        expect.objectContaining({ Effect: "Allow", Principal: { AWS: "*" }, Condition: { StringEquals: expect.objectContaining({ "aws:PrincipalAccount": { Ref: "AWS::AccountId" } }) } }),
      ]);
    }
    // The SQS endpoint reaches this account's queues only: no copying job data to a foreign queue.
    const sqs = interfaceEndpoints().find((e) => JSON.stringify(e.Properties.ServiceName).includes('.sqs"'))!;
    expect(sqs.Properties.PolicyDocument.Statement[0].Condition.StringEquals["aws:ResourceAccount"]).toEqual({ Ref: "AWS::AccountId" });
  });

  it("lets the S3 gateway endpoint reach the data bucket and ECR's layer bucket, nothing else", () => {
    const gateway = Object.values(template.findResources("AWS::EC2::VPCEndpoint", { Properties: { VpcEndpointType: "Gateway" } }));
    expect(gateway).toHaveLength(1);
    const resources = gateway[0]!.Properties.PolicyDocument.Statement.flatMap((s: { Resource: unknown }) => [s.Resource].flat());
    const text = JSON.stringify(resources);
    expect(text).toContain("starport-layer-bucket/*");
    const bucket = logicalId(stack.datanets.bucket);
    const buckets = resources.filter((r: unknown) => !JSON.stringify(r).includes("starport-layer-bucket"));
    expect(buckets.every((r: unknown) => JSON.stringify(r).includes(`"${bucket}"`))).toBe(true);
    expect(buckets).toHaveLength(2); // the bucket and its objects
    expect(text).not.toMatch(/"\*"|arn:aws:s3:::\*/);
  });

  it("limits the trainer instances' egress to HTTPS to the endpoints and the S3 prefix list", () => {
    const group = template.findResources("AWS::EC2::SecurityGroup")[logicalId(stack.training.compute.trainerSecurityGroup)]!;
    // allowAllOutbound: false renders a placeholder rule that matches nothing, then explicit rules.
    const egress = Object.values(template.findResources("AWS::EC2::SecurityGroupEgress", { Properties: { GroupId: { "Fn::GetAtt": [logicalId(stack.training.compute.trainerSecurityGroup), "GroupId"] } } }));
    const inline = (group.Properties.SecurityGroupEgress ?? []) as { CidrIp?: string; DestinationPrefixListId?: unknown }[];
    expect(inline.filter((r) => r.CidrIp === "0.0.0.0/0")).toEqual([]);
    const rules = [...inline.filter((r) => r.CidrIp !== "255.255.255.255/32"), ...egress.map((e) => e.Properties)];
    expect(rules).toHaveLength(2);
    for (const rule of rules) expect(rule).toMatchObject({ IpProtocol: "tcp", FromPort: 443, ToPort: 443 });
    expect(rules.some((r) => JSON.stringify(r.DestinationSecurityGroupId) === JSON.stringify(endpointGroup()))).toBe(true);
    expect(rules.some((r) => r.DestinationPrefixListId !== undefined)).toBe(true);
    template.hasResourceProperties("AWS::EC2::SecurityGroupIngress", {
      GroupId: endpointGroup(),
      IpProtocol: "tcp",
      FromPort: 443,
      SourceSecurityGroupId: { "Fn::GetAtt": [logicalId(stack.training.compute.trainerSecurityGroup), "GroupId"] },
    });
  });

  it("looks up the S3 prefix list at deploy time for the region", () => {
    const lookup = Object.values(template.findResources("Custom::AWS"));
    expect(lookup).toHaveLength(1);
    // The call is JSON joined with the region's token.
    const create = JSON.stringify(lookup[0]!.Properties.Create);
    expect(create).toContain('\\"action\\":\\"describeManagedPrefixLists\\"');
    expect(create).toContain("prefix-list-name");
    expect(create).toContain('{"Ref":"AWS::Region"}');
  });

  it("development option: interface endpoints in one AZ only, the VPC keeps two", () => {
    const { template: dev } = testStack({ singleAzEndpoints: true });
    dev.resourceCountIs("AWS::EC2::Subnet", 2);
    const endpoints = interfaceEndpoints(dev);
    expect(endpoints).toHaveLength(Object.keys(INTERFACE_ENDPOINTS).length);
    for (const endpoint of endpoints) expect(endpoint.Properties.SubnetIds).toHaveLength(1);
  });
});
