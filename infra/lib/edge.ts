import { Annotations, Aws, Duration, Fn, Stack, Token, Validations } from "aws-cdk-lib";
import { ApiMapping, DomainName, type HttpApi, type HttpStage } from "aws-cdk-lib/aws-apigatewayv2";
import { Certificate } from "aws-cdk-lib/aws-certificatemanager";
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HttpVersion,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  OriginSslPolicy,
  PriceClass,
  SecurityPolicyProtocol,
  ViewerProtocolPolicy,
} from "aws-cdk-lib/aws-cloudfront";
import { HttpOrigin, VpcOrigin } from "aws-cdk-lib/aws-cloudfront-origins";
import type { IApplicationLoadBalancer } from "aws-cdk-lib/aws-elasticloadbalancingv2";
import { CfnWebACL } from "aws-cdk-lib/aws-wafv2";
import { Construct } from "constructs";

/** Requests one client IP may make in any 5 minutes before WAF blocks it (WAF's window is 5 minutes). */
export const DEFAULT_RATE_LIMIT_PER_5_MIN = 2000;

/** AWS managed rule groups in front of every host, by priority. */
export const MANAGED_RULE_GROUPS = ["AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"] as const;

export interface EdgeProps {
  httpApi: HttpApi;
  /** The API's stage, mapped to the custom domain when there is one. */
  stage: HttpStage;
  /** The public DNS name (`api.<name>` for the API, `infer.<name>` for inference) and its ACM certificate, which must be in us-east-1. */
  domain?: { name: string; certificateArn?: string };
  /** The OpenLoRA ALB (internal, in the shared VPC), served at `infer.<domain>` through a CloudFront VPC origin so responses stream. */
  inferenceLoadBalancer?: IApplicationLoadBalancer;
  rateLimitPer5Min?: number;
}

/**
 * The edge: CloudFront with AWS WAF (managed rule groups and a rate-based
 * rule per client IP) in front of the HTTP API, and, when given, the
 * inference ALB. Nothing is cached: every route is dynamic or signed.
 * NOTE: a CLOUDFRONT-scope web ACL and its certificate live in us-east-1, so
 * the stack is deployed there (README, Deploying to AWS).
 */
export class Edge extends Construct {
  readonly webAcl: CfnWebACL;
  readonly apiDistribution: Distribution;
  readonly inferenceDistribution: Distribution | undefined;
  /** The API's public host (the SIWE domain): `api.<domain>`, else the distribution's own name. */
  readonly apiHost: string;

  constructor(scope: Construct, id: string, props: EdgeProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    if (!Token.isUnresolved(region) && region !== "us-east-1") {
      throw new Error(`The edge's web ACL and certificate must be in us-east-1; this stack is in ${region}`);
    }
    this.webAcl = this.#webAcl(props.rateLimitPer5Min ?? DEFAULT_RATE_LIMIT_PER_5_MIN);
    const certificate = props.domain?.certificateArn ? Certificate.fromCertificateArn(this, "Certificate", props.domain.certificateArn) : undefined;
    if (props.domain && !certificate) Annotations.of(this).addWarningV2("modelfactory:no-certificate", `No -c modelfactory:certificateArn: ${props.domain.name} is not served until one is given.`);
    const hostOf = (prefix: string) => (props.domain && certificate ? { domainNames: [`${prefix}.${props.domain.name}`], certificate, minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021 } : {});

    // With a domain: API Gateway's regional custom domain `api.<domain>` (the execute-api endpoint is
    // disabled), reached with the viewer's Host forwarded so it matches. Without: the API's own endpoint,
    // `{apiId}.execute-api.{region}.amazonaws.com`, which must not get the viewer's Host.
    let originHost: string;
    if (props.domain && certificate) {
      const domainName = new DomainName(this, "ApiDomain", { domainName: `api.${props.domain.name}`, certificate });
      new ApiMapping(this, "ApiMapping", { api: props.httpApi, domainName, stage: props.stage });
      originHost = domainName.regionalDomainName;
    } else {
      originHost = Fn.join(".", [props.httpApi.apiId, "execute-api", Aws.REGION, Aws.URL_SUFFIX]);
    }
    const apiOrigin = new HttpOrigin(originHost, {
      protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [OriginSslPolicy.TLS_V1_2],
      readTimeout: Duration.seconds(30),
    });
    const common = {
      webAclId: this.webAcl.attrArn,
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      enableIpv6: true,
    };
    const dynamic = {
      viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: AllowedMethods.ALLOW_ALL,
      cachePolicy: CachePolicy.CACHING_DISABLED,
      originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
    };
    const apiBehavior = { origin: apiOrigin, ...dynamic, ...(props.domain && certificate ? { originRequestPolicy: OriginRequestPolicy.ALL_VIEWER } : {}) };
    this.apiDistribution = new Distribution(this, "Api", { ...common, ...hostOf("api"), comment: "Model Factory API", defaultBehavior: apiBehavior });
    this.apiHost = props.domain && certificate ? `api.${props.domain.name}` : this.apiDistribution.distributionDomainName;

    if (props.inferenceLoadBalancer) {
      const origin = VpcOrigin.withApplicationLoadBalancer(props.inferenceLoadBalancer, {
        protocolPolicy: OriginProtocolPolicy.HTTP_ONLY,
        // Generation can take a while before its first token; streamed responses keep the connection busy after.
        readTimeout: Duration.seconds(60),
      });
      this.inferenceDistribution = new Distribution(this, "Inference", { ...common, ...hostOf("infer"), comment: "OpenLoRA inference", defaultBehavior: { origin, ...dynamic } });
    }

    for (const distribution of [this.apiDistribution, this.inferenceDistribution].filter((d) => d !== undefined)) {
      Validations.of(distribution).acknowledge({ id: "AwsSolutions-CFR1", reason: "The platform serves every country; WAF's IP reputation and rate rules do the filtering." });
      Validations.of(distribution).acknowledge({
        id: "AwsSolutions-CFR3",
        reason: "Every request is logged where it lands: the HTTP API's access log and the ALB; WAF logs blocked requests' samples. Standard CloudFront logs would need an ACL-enabled bucket.",
      });
      if (!certificate) {
        Validations.of(distribution).acknowledge({
          id: "AwsSolutions-CFR4",
          reason: "Without a custom domain the distribution serves its *.cloudfront.net name, whose TLS policy CloudFront fixes; with -c modelfactory:certificateArn it is TLS 1.2 (2021) at least.",
        });
      }
    }
  }

  #webAcl(rateLimit: number): CfnWebACL {
    if (!Number.isInteger(rateLimit) || rateLimit < 10) throw new Error(`rateLimitPer5Min must be an integer of at least 10 (WAF's minimum), got ${rateLimit}`);
    const visibility = (name: string) => ({ cloudWatchMetricsEnabled: true, metricName: name, sampledRequestsEnabled: true });
    return new CfnWebACL(this, "WebAcl", {
      scope: "CLOUDFRONT",
      defaultAction: { allow: {} },
      visibilityConfig: visibility("ModelFactoryEdge"),
      rules: [
        {
          name: "RatePerClientIp",
          priority: 0,
          action: { block: {} },
          statement: { rateBasedStatement: { limit: rateLimit, aggregateKeyType: "IP" } },
          visibilityConfig: visibility("RatePerClientIp"),
        },
        ...MANAGED_RULE_GROUPS.map((name, i) => ({
          name,
          priority: i + 1,
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: {
              vendorName: "AWS",
              name,
              // Job specs and chat requests are JSON bodies above the common set's 8 KB; the API limits bodies itself.
              ...(name === "AWSManagedRulesCommonRuleSet" ? { ruleActionOverrides: [{ name: "SizeRestrictions_BODY", actionToUse: { count: {} } }] } : {}),
            },
          },
          visibilityConfig: visibility(name),
        })),
      ],
    });
  }
}
