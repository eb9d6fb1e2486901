import { Match } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { MANAGED_RULE_GROUPS } from "./edge.ts";
import { testStack } from "./test-stack.ts";

const { template, stack } = testStack();
const CERT = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555";
const withDomain = testStack({ apiOrigin: "https://api.example.com", domain: { name: "example.com", certificateArn: CERT } });
const webAcl = () => Object.values(template.findResources("AWS::WAFv2::WebACL"))[0]!.Properties;

describe("Edge", () => {
  it("has a CloudFront-scope web ACL with AWS's managed rule groups", () => {
    expect(webAcl().Scope).toBe("CLOUDFRONT");
    const groups = webAcl().Rules.filter((r: { Statement: { ManagedRuleGroupStatement?: unknown } }) => r.Statement.ManagedRuleGroupStatement);
    expect(groups.map((r: { Statement: { ManagedRuleGroupStatement: { Name: string; VendorName: string } } }) => r.Statement.ManagedRuleGroupStatement.Name)).toEqual([...MANAGED_RULE_GROUPS]);
  });

  it("blocks a client IP over the rate limit", () => {
    const rate = webAcl().Rules.find((r: { Statement: { RateBasedStatement?: unknown } }) => r.Statement.RateBasedStatement);
    expect(rate).toMatchObject({ Action: { Block: {} }, Statement: { RateBasedStatement: { AggregateKeyType: "IP", Limit: 2000 } } });
  });

  it("puts the API behind CloudFront with the web ACL, HTTPS only, nothing cached", () => {
    const distribution = Object.values(template.findResources("AWS::CloudFront::Distribution"))[0]!.Properties.DistributionConfig;
    expect(distribution.WebACLId).toEqual({ "Fn::GetAtt": [stack.getLogicalId(stack.edge!.webAcl), "Arn"] });
    expect(distribution.DefaultCacheBehavior).toMatchObject({ ViewerProtocolPolicy: "https-only", CachePolicyId: "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" });
    expect(JSON.stringify(distribution.Origins[0].DomainName)).toContain("execute-api");
    expect(distribution.Origins[0].CustomOriginConfig).toMatchObject({ OriginProtocolPolicy: "https-only", OriginSSLProtocols: ["TLSv1.2"] });
  });

  it("puts the inference ALB behind its own distribution through a VPC origin", () => {
    template.resourceCountIs("AWS::CloudFront::VpcOrigin", 1);
    template.resourceCountIs("AWS::CloudFront::Distribution", 2);
  });

  it("with a domain: api.<domain> and infer.<domain> on the certificate, TLS 1.2+, and the execute-api endpoint off", () => {
    const t = withDomain.template;
    t.hasResourceProperties("AWS::CloudFront::Distribution", {
      DistributionConfig: Match.objectLike({ Aliases: ["api.example.com"], ViewerCertificate: Match.objectLike({ AcmCertificateArn: CERT, MinimumProtocolVersion: "TLSv1.2_2021" }) }),
    });
    t.hasResourceProperties("AWS::CloudFront::Distribution", { DistributionConfig: Match.objectLike({ Aliases: ["infer.example.com"] }) });
    t.hasResourceProperties("AWS::ApiGatewayV2::Api", { DisableExecuteApiEndpoint: true });
    t.hasResourceProperties("AWS::ApiGatewayV2::DomainName", { DomainName: "api.example.com" });
  });

  it("the SIWE domain is the public host: the functions' API_ORIGIN is https://api.<domain>, and another origin is refused", () => {
    withDomain.template.hasResourceProperties("AWS::Lambda::Function", { Environment: { Variables: Match.objectLike({ API_ORIGIN: "https://api.example.com" }) } });
    expect(() => testStack({ apiOrigin: "https://elsewhere.example.org", domain: { name: "example.com", certificateArn: CERT } })).toThrow(/SIWE domain/);
  });
});
